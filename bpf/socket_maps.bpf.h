/* SPDX-License-Identifier: GPL-2.0 */
/* The maps every program that emits socket data declares: socket_trace.bpf.c owns them and
 * go_probes.bpf.c reuses their fds (userspace calls bpf_map__reuse_fd), so both objects must
 * declare them identically. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

/* Event stream to userspace. Size set by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* key: (tgid, fd); value: what the fd is. Written on connect/accept and on the first I/O on
 * an fd, and rewritten when an I/O finds the fd refers to another file than cached (closed by
 * close_range or io_uring, then reused); deleted on close/dup2/dup3 and by userspace on
 * exec/exit. LRU bounds stale entries. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zt_conn_key);
	__type(value, struct zt_conn_info);
} conns SEC(".maps");
