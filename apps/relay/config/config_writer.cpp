#include "config/config_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "model/datapath.hpp"
#include "model/rule_validator.hpp"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace castor::relay {

std::string toml_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      // Other control characters and DEL are not allowed raw in a basic
      // string; bytes >= 0x80 pass through as UTF-8.
      if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04X", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
  return out;
}

namespace {

void write_outputs(std::ostream& os, const std::vector<rule_output>& outs);

void write_input(std::ostream& os, const rule_input& in) {
  os << "input = { interface = " << toml_quote(in.interface)
     << ", group = " << toml_quote(in.group.to_string())
     << ", port = " << in.port;
  if (in.source)
    os << ", source = " << toml_quote(in.source->to_string());
  os << " }";
}

void write_rule(std::ostream& os, const rule& r, const char* table = "rule") {
  os << "\n[[" << table << "]]\n";
  os << "name = " << toml_quote(r.name) << "\n";
  write_input(os, r.input);
  os << "\n";
  write_outputs(os, r.outputs);
}

void write_outputs(std::ostream& os, const std::vector<rule_output>& outs) {
  os << "outputs = [\n";
  for (auto& out : outs) {
    os << "  { interface = " << toml_quote(out.interface)
       << ", address = " << toml_quote(out.address.to_string())
       << ", port = " << out.port << ", ttl = "
       << (out.ttl_decrement ? toml_quote(ttl_decrement_word)
                             : std::to_string(out.ttl))
       << ", tos = "
       << (out.tos_preserve ? toml_quote(tos_preserve_word)
                            : std::to_string(out.tos));
    if (out.source_port != 0)
      os << ", source_port = " << out.source_port;
    os << " },\n";
  }
  os << "]\n";
}

/// [node], [[peer]] and the rules that cross sites (docs/sites.md).
void write_sites(std::ostream& os, const sites_config& s) {
  if (s.node) {
    auto& n = *s.node;
    os << "\n[node]\n";
    os << "name = " << toml_quote(n.name) << "\n";
    os << "listen = " << toml_quote(n.listen.to_string()) << "\n";
    if (n.insecure)
      os << "insecure = true\n";
    else
      os << "tls = { cert = " << toml_quote(n.tls_cert)
         << ", key = " << toml_quote(n.tls_key)
         << ", ca = " << toml_quote(n.tls_ca) << " }\n";
  }
  for (auto& p : s.peers)
    os << "\n[[peer]]\nname = " << toml_quote(p.name)
       << "\naddress = " << toml_quote(p.address.to_string()) << "\n";
  for (auto& e : s.exports) {
    os << "\n[[rule]]\nname = " << toml_quote(e.name) << "\n";
    write_input(os, e.input);
    os << "\noutputs = [ { peers = [";
    for (size_t i = 0; i < e.peers.size(); ++i)
      os << (i ? ", " : "") << toml_quote(e.peers[i]);
    os << "], spread = " << toml_quote(to_string(e.spread)) << " } ]\n";
  }
  for (auto& imp : s.imports) {
    os << "\n[[rule]]\nname = " << toml_quote(imp.name) << "\n";
    os << "input = { peer = " << toml_quote(imp.peer)
       << ", group = " << toml_quote(imp.group.to_string())
       << ", port = " << imp.port
       << (imp.bus_repair ? ", repair = \"bus\"" : "") << " }\n";
    write_outputs(os, imp.outputs);
  }
}

} // namespace

std::string write_rule_table(const rule& r, const std::string& table) {
  std::ostringstream os;
  write_rule(os, r, table.c_str());
  return os.str();
}

std::string write_config(const daemon_config& cfg) {
  std::ostringstream os;
  os << "# castor-relay configuration, written by castor-relay from the\n"
        "# running config. Every setting is spelled out; see castor.conf(5).\n";
  if (!cfg.include.empty()) {
    os << "#\n# Rules from included files are inline below. The running "
          "config read:\n#   include = [";
    for (size_t i = 0; i < cfg.include.size(); ++i)
      os << (i ? ", " : "") << toml_quote(cfg.include[i]);
    os << "]\n";
  }
  auto& s = cfg.relay;
  os << "\n[relay]\n";
  os << "workers = " << s.workers << "\n";
  os << "ingress = " << toml_quote(to_string(s.ingress)) << "\n";
  if (s.datapath != datapath_mode::packet)
    os << "datapath = " << toml_quote(to_string(s.datapath)) << "\n";
  os << "control_socket = " << toml_quote(s.control_socket) << "\n";
  if (!s.control_admin_group.empty())
    os << "control_admin_group = " << toml_quote(s.control_admin_group) << "\n";
  os << "log_level = " << toml_quote(s.log_level) << "\n";
  os << "log_target = " << toml_quote(s.log_target) << "\n";
  os << "max_frame = " << s.max_frame << "\n";
  os << "max_buffer_memory_mib = " << s.max_buffer_memory_mib << "\n";
  os << "\n[metrics]\n";
  os << "enabled = " << (cfg.metrics.enabled ? "true" : "false") << "\n";
  os << "listen = " << toml_quote(cfg.metrics.listen) << "\n";
  for (auto& r : cfg.rules)
    write_rule(os, r);
  write_sites(os, cfg.sites);
  return os.str();
}

namespace {

std::string failure(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

} // namespace

std::optional<std::string> save_config(const daemon_config& cfg,
                                       const std::string& path) {
  return write_file_atomically(path, write_config(cfg));
}

std::optional<std::string> write_file_atomically(const std::string& path,
                                                 const std::string& text) {
  mode_t mode = 0644;
  struct stat st {};
  bool exists = false;
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      return path + " is a symbolic link; refusing to write through it";
    if (!S_ISREG(st.st_mode))
      return path + " exists and is not a regular file";
    mode = st.st_mode & 07777;
    exists = true;
  }
  // Created exclusively: a file (or symlink) planted at the temporary name
  // makes the save fail instead of being written through.
  const auto tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(
    tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0 && (errno == EEXIST || errno == ELOOP))
    return "cannot create " + tmp
           + ": something (a file or a symbolic link) is already there; "
             "refusing to write through it";
  if (fd < 0)
    return failure("cannot create", tmp);
  size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = failure("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  // fchmod: the umask narrowed the mode open() was given.
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    auto err = failure("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd);
  if (exists) {
    // The replaced file stays as PATH.bak: a hard link, swapped in by
    // rename, so the old .bak is replaced atomically too.
    const auto bak = path + ".bak";
    const auto bak_tmp = bak + ".tmp." + std::to_string(::getpid());
    ::unlink(bak_tmp.c_str());
    if (::link(path.c_str(), bak_tmp.c_str()) != 0
        || ::rename(bak_tmp.c_str(), bak.c_str()) != 0) {
      auto err = failure("cannot keep the previous file as", bak);
      ::unlink(bak_tmp.c_str());
      ::unlink(tmp.c_str());
      return err;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = failure("cannot replace", path);
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename itself is durable once the directory is.
  auto slash = path.rfind('/');
  const auto dir = slash == std::string::npos ? std::string{"."}
                   : slash == 0               ? std::string{"/"}
                                              : path.substr(0, slash);
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return std::nullopt;
}

file_stamp stamp_of(const std::string& path) {
  file_stamp out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return out;
  out.exists = true;
  out.dev = static_cast<uint64_t>(st.st_dev);
  out.ino = static_cast<uint64_t>(st.st_ino);
  out.size = static_cast<int64_t>(st.st_size);
  out.mtime_ns =
    static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return out;
}

} // namespace castor::relay
