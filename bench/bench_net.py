"""Listener figures for `make bench`: TCP from 4 concurrent senders through the engine into DuckDB (rate, loss,
peak RSS), and UDP at a fixed offered rate with Vigil's drop count against the kernel's own counters."""

from __future__ import annotations

from bench.bench_listeners import bench_tcp, bench_udp


def run_tcp(n: int = 1_000_000) -> None:
    r = bench_tcp(n_messages=n, senders=4, engine=True)
    print(f"  TCP, 4 senders (octet + LF), through the engine into DuckDB: {r['received']:,}/{r['sent']:,} "
          f"received, {r['msgs_per_s']:,} msg/s, lost {r['lost']} (must be 0), peak RSS {r['peak_rss_mib']:,} MiB")
    r2 = bench_tcp(n_messages=min(n, 300_000), senders=4, engine=False)
    print(f"  baseline, listener only (no store): {r2['msgs_per_s']:,} msg/s "
          f"(store path at {r['msgs_per_s'] / max(1, r2['msgs_per_s']):.2f} of it)")


def run_udp(rate: int = 20_000, seconds: float = 30.0) -> None:
    r = bench_udp(rate=rate, seconds=seconds, engine=True)
    print(f"  UDP offered {rate:,} msg/s for {seconds:.0f} s (achieved {r['achieved_send_rate']:,}/s): "
          f"received {r['received']:,}/{r['sent']:,}, loss {r['loss_pct']} %; Vigil counted {r['vigil_counted_drops']} "
          f"drops (app {r['app_drops']}, kernel socket {r['kernel_socket_drops']}); agree={r['counts_agree']}; "
          f"rcvbuf granted {r['rcvbuf_granted']:,} B")
