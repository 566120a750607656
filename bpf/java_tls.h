/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between ztrace's Java agent (probes/java/agent/native/handoff.c) and the BPF program
 * that receives its plaintext (java_tls_handoff in bpf/openssl_probes.bpf.c): the agent calls
 * ioctl(-1, ZT_JAVA_TLS_IOCTL, &desc); the ioctl fails with EBADF, the sys_enter_ioctl
 * tracepoint has read the descriptor by then.
 */
#pragma once

#ifdef __BPF__
/* vmlinux.h provides __u8..__u64 */
#else
#include <linux/types.h>
#endif

/* _IOW('Z', 0x7a, 48 bytes): a request no driver answers; on fd -1 none is ever asked. */
#define ZT_JAVA_TLS_IOCTL 0x40305a7aU
#define ZT_JAVA_TLS_MAGIC 0x7a7472616365a11aULL /* tells the descriptor from another's ioctl */
#define ZT_JAVA_TLS_CAPTURE_BYTES 16384         /* at most 4 pieces of ZT_PIECE_BYTES */
#define ZT_JAVA_TLS_WRITE 0x1                   /* plaintext the application sends */

/* zt_data_event.syscall of TLS plaintext handed over by the Java agent. */
#define ZT_SYS_JAVA_TLS 66

struct zt_java_tls {
	__u64 magic;
	__u64 buf;      /* the captured plaintext (at most ZT_JAVA_TLS_CAPTURE_BYTES) */
	__u32 captured; /* bytes at buf */
	__u32 total;    /* bytes the call moved (the stream advances by this much) */
	__u64 engine;   /* SSLEngine: its identity; 0 for an SSLSocket */
	__u32 flags;    /* ZT_JAVA_TLS_WRITE */
	__s32 fd;        /* SSLSocket: its socket; -1 for an SSLEngine (learned per thread) */
	__u64 pad;
};
