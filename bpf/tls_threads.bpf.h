/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The socket behind an SSL object whose BIOs are not sockets (memory BIOs: Node.js, proxies):
 * the thread that calls SSL_read reads the ciphertext from it just before (Node) or inside
 * the call (a BIO whose callbacks call recv, as curl's), and the thread that calls SSL_write
 * sends the ciphertext inside the call (curl) or with its next socket write (Node).
 * socket_trace's syscall hooks record that for threads the OpenSSL probes marked; the probes
 * read it.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

struct tls_thread {
	__s32 last_read_fd;  /* the traced socket the thread read last, -1: none since taken */
	__s32 last_write_fd; /* the traced socket it wrote since its SSL call began, -1: none */
	__u64 pending_ssl;  /* an SSL object whose socket the thread's next socket write names */
};

/* key: pid_tgid of a thread that called into OpenSSL; value: its socket I/O as above. Written
 * by the OpenSSL probes (created at a thread's first SSL call) and by socket_trace's data
 * syscall exits; never deleted (LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

struct ssl_fd_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl; /* address of the SSL object */
};
struct ssl_fd {
	__s32 fd;
	__u32 pad;
	__u64 generation; /* of the socket when learned: a reused fd is another connection */
};

/* key: (tgid, SSL object); value: its socket. Written by the OpenSSL probes (from a thread's
 * last read) and by socket_trace (a pending SSL's next write); LRU: freed SSL objects age out,
 * and a reused address is relearned at its first read. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_fd_key);
	__type(value, struct ssl_fd);
} ssl_fds SEC(".maps");

/* At the exit of a data syscall on a traced socket: what the thread's SSL calls need. One
 * lookup for threads that never called OpenSSL. */
static __always_inline void note_tls_thread_io(__u64 pid_tgid, int fd, __u64 generation,
					       __u8 direction)
{
	struct tls_thread *t = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (!t)
		return;
	if (direction == ZT_DIR_INGRESS) {
		t->last_read_fd = fd;
		return;
	}
	t->last_write_fd = fd;
	if (!t->pending_ssl)
		return;
	struct ssl_fd_key key = { .tgid = pid_tgid >> 32, .ssl = t->pending_ssl };
	struct ssl_fd value = { .fd = fd, .generation = generation };
	bpf_map_update_elem(&ssl_fds, &key, &value, BPF_ANY);
	t->pending_ssl = 0;
}
