#!/usr/bin/env escript
%%! -noinput +sbt u
%% bench_socket's drain experiment for Erlang/OTP's gen_udp, so that castor's
%% {active, N} socket is measured side by side with the runtime it imitates.
%%
%%   escript erlang_udp.escript drain PAYLOAD N K
%%
%% Opens a loopback gen_udp socket in passive mode with the large receive
%% buffer bench_socket gives its own sockets (SO_RCVBUFFORCE as a raw option,
%% since gen_udp's recbuf is clamped by net.core.rmem_max), fills it with K datagrams of PAYLOAD bytes from a
%% second socket, then starts the clock, turns the receiver active and
%% counts until all K arrived. N = 1 is {active, once}, re-armed after each
%% datagram; N > 1 is {active, N}, re-granted on every udp_passive. The
%% owner is the calling process, as in gen_udp's own idiom. Prints one line,
%% the datagrams per second, or 0 if not all K arrived within 10 s.
-mode(compile).

-define(SOL_SOCKET, 1).
-define(SO_RCVBUFFORCE, 33).
-define(RCVBUF, (64 bsl 20)).

main(["drain", Payload, N, K]) ->
    io:format("~.1f~n", [drain(list_to_integer(Payload), list_to_integer(N),
                               list_to_integer(K))]);
main(_) ->
    io:format(standard_error, "usage: erlang_udp.escript drain PAYLOAD N K~n", []),
    halt(2).

drain(Payload, N, K) ->
    {ok, Rx} = gen_udp:open(0, [binary, {active, false}, {ip, loopback},
                                {read_packets, 32}]),
    %% After open: gen_udp sets its own small recbuf while opening.
    ok = inet:setopts(Rx, [{raw, ?SOL_SOCKET, ?SO_RCVBUFFORCE,
                            <<?RCVBUF:32/native>>}]),
    {ok, Port} = inet:port(Rx),
    {ok, Tx} = gen_udp:open(0, [binary, {ip, loopback}]),
    Data = binary:copy(<<16#5a>>, Payload),
    [ok = gen_udp:send(Tx, {127, 0, 0, 1}, Port, Data) || _ <- lists:seq(1, K)],
    gen_udp:close(Tx),
    T0 = erlang:monotonic_time(),
    arm(Rx, N),
    Got = loop(Rx, N, K, 0),
    T1 = erlang:monotonic_time(),
    gen_udp:close(Rx),
    Secs = erlang:convert_time_unit(T1 - T0, native, nanosecond) / 1.0e9,
    case Got of
        K -> K / Secs;
        _ -> 0.0
    end.

arm(S, 1) -> ok = inet:setopts(S, [{active, once}]);
arm(S, N) -> ok = inet:setopts(S, [{active, N}]).

loop(_S, _N, K, K) -> K;
loop(S, N, K, Got) ->
    receive
        {udp, S, _Ip, _Port, _Data} when N =:= 1 ->
            arm(S, 1),
            loop(S, N, K, Got + 1);
        {udp, S, _Ip, _Port, _Data} ->
            loop(S, N, K, Got + 1);
        {udp_passive, S} ->
            arm(S, N),
            loop(S, N, K, Got)
    after 10000 ->
        Got
    end.
