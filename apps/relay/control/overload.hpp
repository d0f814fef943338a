#pragma once

// An overload set of lambdas for std::visit over a control::command: each
// command gets its own case, and the compiler says when a new command has
// none.

namespace castor::relay::control {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};

template <class... Fs>
overload(Fs...) -> overload<Fs...>;

} // namespace castor::relay::control
