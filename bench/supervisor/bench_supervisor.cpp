// bench_supervisor: what castor's supervisor costs over bare CAF.
//
// Measured, each against a bare-CAF baseline doing the same work in the same
// run:
//   - restart latency: a child crashes -> its replacement answers a message.
//     The bare baseline is an actor that traps exits and spawns a linked
//     replacement (spawn + link + exit, nothing else).
//   - starting and stopping N children, and the resident memory each costs
//     (RSS delta from /proc/self/statm while they run). The bare baseline is
//     one parent spawning N linked children, and exiting (links end them).
//
// Every phase runs in a fresh forked process with its own actor system, so
// that memory figures start from the same state and one phase's leftovers
// (caches, mailboxes, heap fragmentation) cannot slow down the next. The
// table reports medians over --runs runs. Logging is turned down to errors:
// castor logs every restart, and 10,000 log lines would be the benchmark.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/actors/system_config.hpp"

namespace {

using hello_atom = caf::atom_constant<caf::atom("hello")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct options {
  size_t restarts = 10000;
  size_t children = 10000;
  size_t runs = 5;
  /// CAF scheduler threads; 0 lets castor::configure pick (cores).
  size_t threads = 0;
  /// A phase that takes longer is killed and counted as failed, so a broken
  /// supervisor ends the benchmark instead of hanging it.
  unsigned phase_timeout_s = 300;
};

double to_us(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double to_ms(clock_type::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

long rss_bytes() {
  long pages = 0;
  long resident = 0;
  if (auto* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// -- actors ------------------------------------------------------------------

// The supervised child of every variant. With a driver, it announces itself
// on start so the driver can time its restart.
caf::behavior bench_child(caf::event_based_actor* self, caf::actor driver) {
  if (driver)
    self->send(driver, hello_atom::value, caf::actor_cast<caf::actor>(self));
  return {
    [](ping_atom) { return caf::ok_atom::value; },
    [self](crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

struct driver_state {
  clock_type::time_point crashed_at;
  caf::actor child;
  size_t hellos = 0;
};

// Crashes the current child, waits for the replacement's hello, pings it and
// takes the time when the answer arrives: crash -> replacement handling
// messages. The first `warmup` restarts are not recorded.
caf::behavior restart_driver(caf::stateful_actor<driver_state>* self,
                             size_t warmup, size_t n,
                             std::vector<double>* samples_us,
                             caf::actor report_to) {
  return {
    [=](hello_atom, caf::actor child) {
      self->state.child = child;
      self->request(child, caf::infinite, ping_atom::value)
        .then([=](caf::ok_atom) {
          auto& st = self->state;
          // Hello number 0 is the first start, not a restart.
          if (st.hellos++ > warmup)
            samples_us->push_back(to_us(clock_type::now() - st.crashed_at));
          if (samples_us->size() == n) {
            self->send(report_to, done_atom::value);
            return;
          }
          st.crashed_at = clock_type::now();
          self->send(st.child, crash_atom::value);
        });
    },
  };
}

struct bare_supervisor_state {
  caf::actor child;
  caf::actor driver;
};

// The least a supervisor can do: trap exits and spawn a linked replacement.
caf::behavior bare_supervisor(caf::stateful_actor<bare_supervisor_state>* self,
                              caf::actor driver) {
  self->state.driver = driver;
  self->state.child = self->spawn<caf::linked>(bench_child, driver);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.child.address()) {
      st.child = self->spawn<caf::linked>(bench_child, st.driver);
      return;
    }
    self->quit(std::move(msg.reason));
  });
  // An actor without a behavior would terminate at once.
  return {[](caf::ok_atom) {}};
}

struct bare_parent_state {
  std::vector<caf::actor> children;
  size_t down = 0;
  caf::actor report_to;
};

// Spawns n linked children and reports. On exit_msg it stops them all at
// once and waits for their down messages: the cheapest way to know they are
// gone, without castor's one-at-a-time reverse order.
caf::behavior bare_parent(caf::stateful_actor<bare_parent_state>* self,
                          size_t n, caf::actor report_to) {
  auto& st = self->state;
  st.report_to = report_to;
  st.children.reserve(n);
  for (size_t i = 0; i < n; ++i)
    st.children.push_back(self->spawn<caf::linked>(bench_child, caf::actor{}));
  self->send(report_to, done_atom::value);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.children.empty()) {
      self->quit(std::move(msg.reason));
      return;
    }
    for (auto& child : st.children) {
      self->monitor(child);
      self->send_exit(child, caf::exit_reason::user_shutdown);
    }
  });
  self->set_down_handler([self](caf::down_msg&) {
    auto& st = self->state;
    if (++st.down == st.children.size()) {
      self->send(st.report_to, done_atom::value);
      st.children.clear();
      self->quit(caf::exit_reason::user_shutdown);
    }
  });
  return {[](caf::ok_atom) {}};
}

// -- phases --------------------------------------------------------------------

// Each phase fills up to three numbers and returns false on failure.
using phase_fn = bool (*)(caf::actor_system&, const options&, double*);

bool stop_and_wait(caf::scoped_actor& self, const caf::actor& whom) {
  self->monitor(whom);
  self->send_exit(whom, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                caf::after(120s) >> [] {});
  if (!down)
    std::fprintf(stderr, "bench: actor did not stop within 120 s\n");
  return down;
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[rank];
}

// out: p50 us, p99 us, samples
template <class SpawnSupervisor>
bool restart_phase(caf::actor_system& sys, const options& opt,
                   SpawnSupervisor spawn_supervisor, double* out) {
  std::vector<double> samples;
  samples.reserve(opt.restarts);
  caf::scoped_actor self{sys};
  auto warmup = std::min<size_t>(1000, opt.restarts / 10);
  auto driver =
    sys.spawn(restart_driver, warmup, opt.restarts, &samples, caf::actor{self});
  auto sup = spawn_supervisor(driver);
  if (!sup) {
    std::fprintf(stderr, "bench: supervisor failed to start: %s\n",
                 sys.render(sup.error()).c_str());
    self->send_exit(driver, caf::exit_reason::user_shutdown);
    return false;
  }
  bool done = false;
  self->receive([&](done_atom) { done = true; },
                caf::after(std::chrono::seconds(opt.phase_timeout_s)) >> [] {});
  bool stopped = stop_and_wait(self, *sup);
  self->send_exit(driver, caf::exit_reason::user_shutdown);
  if (!done) {
    std::fprintf(stderr, "bench: only %zu of %zu restarts observed\n",
                 samples.size(), opt.restarts);
    return false;
  }
  out[0] = percentile(samples, 0.50);
  out[1] = percentile(samples, 0.99);
  out[2] = static_cast<double>(samples.size());
  return stopped;
}

bool restart_bare(caf::actor_system& sys, const options& opt, double* out) {
  return restart_phase(
    sys, opt,
    [&](caf::actor driver) -> caf::expected<caf::actor> {
      return sys.spawn(bare_supervisor, driver);
    },
    out);
}

bool restart_castor(caf::actor_system& sys, const options& opt, double* out) {
  return restart_phase(
    sys, opt,
    [&](caf::actor driver) {
      castor::supervisor_flags flags;
      flags.name = "bench";
      // Far above the benchmark's restart rate, so that intensity never
      // stops it; the bookkeeping still runs on every restart.
      flags.intensity = 1'000'000;
      flags.period = 1s;
      return castor::start_supervisor(
        sys, flags, {castor::worker("child", bench_child, driver)});
    },
    out);
}

// out: start ms, stop ms, bytes per child
void fill_start_stop(double* out, clock_type::time_point t0,
                     clock_type::time_point started,
                     clock_type::time_point stopped, long rss_delta,
                     size_t children) {
  out[0] = to_ms(started - t0);
  out[1] = to_ms(stopped - started);
  out[2] = static_cast<double>(rss_delta) / static_cast<double>(children);
}

bool start_stop_bare(caf::actor_system& sys, const options& opt, double* out) {
  caf::scoped_actor self{sys};
  auto rss0 = rss_bytes();
  auto t0 = clock_type::now();
  auto parent = sys.spawn(bare_parent, opt.children, caf::actor{self});
  bool started = false;
  self->receive([&](done_atom) { started = true; }, caf::after(120s) >> [] {});
  auto t1 = clock_type::now();
  auto rss1 = rss_bytes();
  if (!started) {
    std::fprintf(stderr, "bench: bare parent did not start its children\n");
    return false;
  }
  self->send_exit(parent, caf::exit_reason::user_shutdown);
  bool stopped = false;
  self->receive([&](done_atom) { stopped = true; }, caf::after(120s) >> [] {});
  if (!stopped) {
    std::fprintf(stderr, "bench: bare parent did not stop its children\n");
    return false;
  }
  fill_start_stop(out, t0, t1, clock_type::now(), rss1 - rss0, opt.children);
  return true;
}

bool start_stop_castor(caf::actor_system& sys, const options& opt,
                       double* out) {
  caf::scoped_actor self{sys};
  auto rss0 = rss_bytes();
  // The specs are built before the clock starts (their cost is the
  // caller's), but after the first RSS reading: the supervisor keeps them.
  std::vector<castor::child_spec> specs;
  specs.reserve(opt.children);
  for (size_t i = 0; i < opt.children; ++i)
    specs.push_back(
      castor::worker("c" + std::to_string(i), bench_child, caf::actor{}));
  castor::supervisor_flags flags;
  flags.name = "bench";
  auto t0 = clock_type::now();
  auto sup = castor::start_supervisor(sys, flags, std::move(specs), 120s);
  auto t1 = clock_type::now();
  auto rss1 = rss_bytes();
  if (!sup) {
    std::fprintf(stderr, "bench: start_supervisor failed: %s\n",
                 sys.render(sup.error()).c_str());
    return false;
  }
  // The supervisor stops its children one by one in reverse start order,
  // waiting for each (OTP semantics), and ends after the last.
  if (!stop_and_wait(self, *sup))
    return false;
  fill_start_stop(out, t0, t1, clock_type::now(), rss1 - rss0, opt.children);
  return true;
}

// -- process isolation ---------------------------------------------------------

struct phase_result {
  bool ok = false;
  double v[3] = {0, 0, 0};
};

// Runs `fn` in a forked child with its own actor system; the parent never
// creates threads, so forking is safe.
phase_result run_isolated(const options& opt, phase_fn fn, const char* name) {
  phase_result res;
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    return res;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  auto pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return res;
  }
  if (pid == 0) {
    close(fds[0]);
    // Kills a hung phase; the parent sees the signal and reports it.
    alarm(opt.phase_timeout_s + 60);
    bool ok = false;
    double v[3] = {0, 0, 0};
    {
      caf::actor_system_config cfg;
      castor::runtime_options rt;
      rt.scheduler_threads = opt.threads;
      castor::configure(cfg, rt);
      caf::actor_system sys{cfg};
      ok = fn(sys, opt, v);
    }
    if (ok && write(fds[1], v, sizeof(v)) != static_cast<ssize_t>(sizeof(v)))
      ok = false;
    close(fds[1]);
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  auto* dst = reinterpret_cast<char*>(res.v);
  while (got < sizeof(res.v)) {
    auto n = read(fds[0], dst + got, sizeof(res.v) - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  if (WIFSIGNALED(status))
    std::fprintf(stderr, "bench: phase %s killed by signal %d\n", name,
                 WTERMSIG(status));
  else if (WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "bench: phase %s failed\n", name);
  res.ok =
    WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == sizeof(res.v);
  return res;
}

double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

bool parse_size(const char* arg, size_t& out) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0')
    return false;
  out = static_cast<size_t>(x);
  return true;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--restarts N] [--children N] [--runs N] "
               "[--threads N] [--smoke]\n"
               "  --smoke  a quick run (500 restarts, 500 children, 1 run)\n",
               argv0);
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](size_t& out) {
      if (i + 1 >= argc || !parse_size(argv[++i], out) || out == 0) {
        usage(argv[0]);
        std::exit(2);
      }
    };
    if (arg == "--restarts") {
      value(opt.restarts);
    } else if (arg == "--children") {
      value(opt.children);
    } else if (arg == "--runs") {
      value(opt.runs);
    } else if (arg == "--threads") {
      value(opt.threads);
    } else if (arg == "--smoke") {
      opt.restarts = 500;
      opt.children = 500;
      opt.runs = 1;
      opt.phase_timeout_s = 60;
    } else {
      usage(argv[0]);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::err);

  auto threads = opt.threads;
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  std::printf("bench_supervisor: %zu restarts, %zu children, %zu run(s), "
              "%zu scheduler thread(s), each phase in a fresh process\n",
              opt.restarts, opt.children, opt.runs, threads);

  struct series {
    std::vector<double> p50, p99, start_ms, stop_ms, bytes;
  } bare, cast;
  bool ok = true;
  for (size_t run = 1; run <= opt.runs; ++run) {
    auto rb = run_isolated(opt, restart_bare, "restart/bare");
    auto rc = run_isolated(opt, restart_castor, "restart/castor");
    auto sb = run_isolated(opt, start_stop_bare, "start-stop/bare");
    auto sc = run_isolated(opt, start_stop_castor, "start-stop/castor");
    if (!(rb.ok && rc.ok && sb.ok && sc.ok)) {
      ok = false;
      continue;
    }
    bare.p50.push_back(rb.v[0]);
    bare.p99.push_back(rb.v[1]);
    cast.p50.push_back(rc.v[0]);
    cast.p99.push_back(rc.v[1]);
    bare.start_ms.push_back(sb.v[0]);
    bare.stop_ms.push_back(sb.v[1]);
    bare.bytes.push_back(sb.v[2]);
    cast.start_ms.push_back(sc.v[0]);
    cast.stop_ms.push_back(sc.v[1]);
    cast.bytes.push_back(sc.v[2]);
    std::printf("  run %zu: restart p50/p99 us bare %.1f/%.1f castor "
                "%.1f/%.1f | start ms bare %.1f castor %.1f | stop ms "
                "bare %.1f castor %.1f | B/child bare %.0f castor %.0f\n",
                run, rb.v[0], rb.v[1], rc.v[0], rc.v[1], sb.v[0], sc.v[0],
                sb.v[1], sc.v[1], sb.v[2], sc.v[2]);
  }
  if (bare.p50.empty()) {
    std::fprintf(stderr, "bench_supervisor: no run completed\n");
    return 1;
  }

  // The ratio column is the median of the per-run ratios, not the ratio of
  // the medians: each run measures castor and its baseline back to back, so
  // a per-run ratio cancels most of the load a shared machine adds to a run.
  auto ratio_of = [](const std::vector<double>& castor_xs,
                     const std::vector<double>& bare_xs) {
    std::vector<double> ratios;
    for (size_t i = 0; i < castor_xs.size(); ++i)
      ratios.push_back(castor_xs[i] / std::max(bare_xs[i], 1e-9));
    return median(ratios);
  };
  auto row = [&](const std::string& what, const std::vector<double>& b,
                 const std::vector<double>& c, const char* unit) {
    std::printf("| %-34s | %10.1f | %10.1f | %6.2fx |\n",
                (what + " (" + unit + ")").c_str(), median(b), median(c),
                ratio_of(c, b));
  };
  std::printf(
    "\nmedians of %zu run(s); ratio = median of per-run castor/bare:\n",
    bare.p50.size());
  std::printf("| %-34s | %10s | %10s | %7s |\n", "measure", "bare CAF",
              "castor", "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(36, '-').c_str(),
              std::string(12, '-').c_str(), std::string(12, '-').c_str(),
              std::string(9, '-').c_str());
  row("restart latency p50", bare.p50, cast.p50, "us");
  row("restart latency p99", bare.p99, cast.p99, "us");
  auto n = std::to_string(opt.children);
  row("start " + n + " children", bare.start_ms, cast.start_ms, "ms");
  row("stop " + n + " children", bare.stop_ms, cast.stop_ms, "ms");
  row("memory per running child", bare.bytes, cast.bytes, "bytes");

  auto p50 = median(cast.p50);
  auto ratio = ratio_of(cast.p50, bare.p50);
  auto start_ms =
    median(cast.start_ms) * 10000.0 / static_cast<double>(opt.children);
  std::printf("\ntargets (informational; not asserted):\n");
  std::printf("  restart p50 < 100 us:              %s (%.1f us)\n",
              p50 < 100 ? "met" : "MISSED", p50);
  std::printf("  restart p50 within 3x of bare CAF: %s (%.2fx)\n",
              ratio <= 3 ? "met" : "MISSED", ratio);
  std::printf("  10,000 children start in < 0.5 s:  %s (%.0f ms%s)\n",
              start_ms < 500 ? "met" : "MISSED", start_ms,
              opt.children == 10000 ? "" : ", scaled linearly");
  if (!ok)
    std::fprintf(stderr, "bench_supervisor: some runs failed\n");
  return ok ? 0 : 1;
}
