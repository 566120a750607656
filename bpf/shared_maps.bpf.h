/* SPDX-License-Identifier: GPL-2.0 */
/* Maps shared by socket_trace.bpf.c (which decides what to inject) and inject.bpf.c (which
 * injects). Both objects declare them; userspace makes the second reuse the first's fds. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

/* key: TCP port (host order); value: unused. The --port rules: written by userspace, never
 * deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, __u8);
} traced_ports SEC(".maps");

/* key: client connection; value: the header to insert into its next message. Written at
 * syscall entry of a request write; deleted by sk_msg when it injects, or at syscall exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct zt_inject_key);
	__type(value, struct zt_pending_injection);
} pending_injections SEC(".maps");

/* key: client connection; value: the traceparent fields to insert into the HEADERS frames of
 * its next message (HTTP/2). Written at syscall entry of a write; deleted by sk_msg when it
 * handles the message, or at syscall exit. An entry lives only during one write: a few
 * hundred cover every write in flight at once (values are 3 KiB, preallocated). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct zt_inject_key);
	__type(value, struct zt_h2_pending);
} pending_h2_injections SEC(".maps");

/* key: address of a struct sock a traced process is connecting; value: unused. Written by
 * the connect() hook of socket_trace.bpf.c; sockops adds only these sockets to the sockhash
 * (and deletes the entry), so untraced processes never take the sk_msg path. LRU: connects
 * that never establish age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} injectable_sockets SEC(".maps");

/* key: enum zt_inject_outcome; value: count on this CPU. Read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_INJECT_OUTCOME_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} inject_counters SEC(".maps");

static __always_inline void count_inject_by(__u32 outcome, __u64 n)
{
	__u64 *count = bpf_map_lookup_elem(&inject_counters, &outcome);
	if (count)
		*count += n;
}

static __always_inline void count_inject(__u32 outcome)
{
	count_inject_by(outcome, 1);
}

/* The key of a connection in pending_injections and pending_h2_injections. */
static __always_inline void inject_key_of(const struct zt_tuple *t, struct zt_inject_key *key)
{
	__builtin_memcpy(key->local_addr, t->local_addr, 16);
	__builtin_memcpy(key->remote_addr, t->remote_addr, 16);
	key->family = t->family;
	key->local_port = t->local_port;
	key->remote_port = t->remote_port;
}
