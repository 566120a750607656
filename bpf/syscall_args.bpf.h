/* SPDX-License-Identifier: GPL-2.0 */
/* A data syscall's arguments, stashed at entry and read at exit (when the result says how
 * many bytes really moved). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

/* Arguments of a syscall between entry and exit. */
struct syscall_args {
	__u64 buf;     /* buffer, or iovec array */
	__u64 iovcnt;  /* 0: `buf` is a plain buffer */
	__u64 len;     /* plain buffer: its length */
	__u64 enter_ns;
	__s32 fd;
	__u8 syscall;
	__u8 injection_pending; /* INJECTION_PENDING_*: an entry was queued for sk_msg */
	__u8 h2_walked;         /* HTTP/2: the write's frames were walked (h2_inject.bpf.h) */
	__u8 h2_state_after;    /* HTTP/2: the connection's state once the write went out */
	struct zt_trace_context trace; /* egress: context of the request this call starts */
	__u32 h2_frame_left_after;
	__u32 h2_last_stream_after;
	__u64 h2_write_bytes;
	__u64 h1_message_left; /* HTTP/1 framing (http1_framing.bpf.h): bytes from the write's
				* start to its message's end */
	__u64 h1_generation;   /* of the connection planned for */
	__u32 h1_head_bytes;   /* the write starts a message: its head's bytes */
	__u8 h1_planned;       /* committed at exit, by the bytes really written */
	__u8 h1_chunked;       /* what follows the head is a chunked body: walked at exit */
	__u8 h1_unread;        /* starts a message whose bytes cannot be read (sendfile) */
	__u8 pad;
};

#define INJECTION_PENDING_HTTP1 0x1 /* in pending_injections */
#define INJECTION_PENDING_H2 0x2    /* in pending_h2_injections */

/* key: pid_tgid of the thread in the syscall; value: its arguments. Written at entry,
 * deleted at exit (LRU: a missed exit cannot leak). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct syscall_args);
} inflight SEC(".maps");

/* A syscall's arguments are assembled here at entry before they go into inflight, and
 * copied here at exit when they leave it: not on the stack, where the call chains (the HTTP/2
 * frame walk, the request head scans) must stay under the verifier's 512 bytes
 * (tools/bpf_stack_budget.py checks it at build time). One slot per side. */
enum { ARGS_AT_ENTRY = 0, ARGS_AT_EXIT = 1 };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct syscall_args);
} args_scratch SEC(".maps");

static __always_inline struct syscall_args *args_slot(__u32 side)
{
	return bpf_map_lookup_elem(&args_scratch, &side);
}

/* User address of the call's first byte (first iovec for vector calls). */
static __always_inline __u64 first_byte_address(const struct syscall_args *args)
{
	if (!args->iovcnt)
		return args->buf;
	struct iovec iov = {};
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
		return 0;
	return (__u64)iov.iov_base;
}

