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
	__u8 stashed;          /* set at entry, cleared when the exit takes the arguments */
};

#define INJECTION_PENDING_HTTP1 0x1 /* in pending_injections */
#define INJECTION_PENDING_H2 0x2    /* in pending_h2_injections */

/* The thread's syscall arguments between entry and exit: task local storage, not a hash map
 * keyed by thread. Its lookup is a pointer walk from the task (no hashing, no element to
 * allocate at entry and free at exit), and it goes with the thread, so a missed exit cannot
 * leak. The slot stays with the thread; `stashed` says whether it holds a syscall's arguments.
 * The call chains (the HTTP/2 frame walk, the request head scans) fill and read it in place:
 * not on the stack, which must stay under the verifier's 512 bytes
 * (tools/bpf_stack_budget.py checks it at build time). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_args);
} inflight SEC(".maps");

/* At syscall entry: the current thread's slot, cleared (created at its first traced call).
 * NULL when the kernel cannot give one now (nested storage use on this CPU, no memory). The
 * caller sets `stashed` once the arguments are in. */
static __always_inline struct syscall_args *stash_slot(void)
{
	struct syscall_args *args = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(),
							 NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (args)
		__builtin_memset(args, 0, sizeof(*args));
	return args;
}

/* At syscall exit: the arguments its entry stashed, taken (NULL: none). They stay readable
 * in the slot until the thread's next syscall entry, after this program. */
static __always_inline struct syscall_args *take_stashed(void)
{
	struct syscall_args *args = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(),
							 NULL, 0);
	if (!args || !args->stashed)
		return NULL;
	args->stashed = 0;
	return args;
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

