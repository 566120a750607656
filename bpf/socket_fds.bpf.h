/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What an fd is: resolved once by walking the task's fd table, cached in `conns` until
 * close(), and checked on every data syscall of a traced socket (fds also die without
 * close(): close_range, io_uring). Opening and closing a traced socket is an event.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/event_output.bpf.h"
#include "bpf/selection.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define IPPROTO_TCP 6

/* The struct file an fd of the current task refers to, NULL when the fd is not open. The
 * task's BTF pointer is walked with plain loads (no helper call per step): it runs on every
 * traced socket's syscalls (fd_still_cached_file). */
static __always_inline struct file *file_of_fd(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt || fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* The file's inode: a plain load where the kernel has bpf_rdonly_cast (6.2+). */
static __always_inline __u64 inode_of_file(struct file *file)
{
	if (bpf_ksym_exists(bpf_rdonly_cast))
		return (__u64)bpf_core_cast(file, struct file)->f_inode;
	return (__u64)BPF_CORE_READ(file, f_inode);
}

/* The file's socket's sock, or NULL when the file is not a socket. */
static __always_inline struct sock *sock_of_file(struct file *file)
{
	if (!file)
		return NULL;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *socket = BPF_CORE_READ(file, private_data);
	return socket ? BPF_CORE_READ(socket, sk) : NULL;
}

/* fd -> struct socket's sock, or NULL when the fd is not a socket. */
static __always_inline struct sock *sock_of_fd(int fd)
{
	return sock_of_file(file_of_fd(fd));
}

/* Fills the tuple; false when the socket is not TCP over IPv4/IPv6. */
static __always_inline bool read_tcp_tuple(struct sock *sk, struct zt_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return false;
	/* sk_protocol and sk_type are plain u16 fields since 5.6 (bf9765145b85) */
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP ||
	    BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return false;
	t->family = family;
	t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Explicit sizes: BPF_CORE_READ_INTO on an array copies only its first element. */
	if (family == AF_INET) {
		bpf_core_read(t->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return true;
}

static __always_inline void emit_conn_event(__u8 type, __u64 pid_tgid, int fd,
					    const struct zt_conn_info *info)
{
	struct zt_conn_event ev = {};
	ev.type = type;
	ev.role = info->role;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.fd = fd;
	ev.generation = info->generation;
	ev.timestamp_ns = bpf_ktime_get_ns();
	ev.bytes_sent = info->bytes_sent;
	ev.bytes_received = info->bytes_received;
	ev.tuple = info->tuple;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), ring_flags()))
		count_drop(ZT_DROP_CONTROL_RINGBUF_FULL);
}

/* Resolves the fd and records it in `conns`. Returns the entry, or NULL on failure. Not
 * inlined: its entry and event are built on a frame of its own, off the write path's chain.
 * A traced connection still cached for this fd ended without close() (close_range, io_uring):
 * it is reported closed before its successor opens. */
static __noinline struct zt_conn_info *register_fd(__u64 pid_tgid, int fd, __u8 role)
{
	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct zt_conn_info *previous = bpf_map_lookup_elem(&conns, &key);
	if (previous && previous->is_traced_socket)
		emit_conn_event(ZT_EVENT_CONN_CLOSE, pid_tgid, fd, previous);
	struct zt_conn_info info = {};
	info.generation = bpf_ktime_get_ns();
	info.role = role;
	struct file *file = file_of_fd(fd);
	info.file = (__u64)file;
	info.inode = file ? inode_of_file(file) : 0;
	struct sock *sk = sock_of_file(file);
	if (sk && read_tcp_tuple(sk, &info.tuple) && port_selected(&info.tuple))
		info.is_traced_socket = 1;
	info.sock = (__u64)sk;
	/* A connection the kernel saw connect starts at a message boundary: its first data
	 * byte is the one write_seq names now (the SYN took the one before). */
	if (role == ZT_ROLE_CLIENT && info.is_traced_socket &&
	    bpf_core_read(&info.h1_next_seq, sizeof(info.h1_next_seq),
			  &((struct tcp_sock *)sk)->write_seq) == 0)
		info.h1_framing = ZT_H1_TRACKING;
	if (bpf_map_update_elem(&conns, &key, &info, BPF_ANY)) {
		count_drop(ZT_DROP_CONN_UPDATE_FAILED);
		return NULL;
	}
	if (info.is_traced_socket && role != ZT_ROLE_UNKNOWN)
		emit_conn_event(ZT_EVENT_CONN_OPEN, pid_tgid, fd, &info);
	return bpf_map_lookup_elem(&conns, &key);
}

/* True when the fd still refers to the file `info` was cached for. Both the struct file and
 * its inode are compared: the slab may hand a closed socket's struct file to the next open(),
 * but a socket's inode comes from sockfs' own cache, never a regular file's. */
static __always_inline bool fd_still_cached_file(int fd, const struct zt_conn_info *info)
{
	struct file *file = file_of_fd(fd);
	return (__u64)file == info->file && file && inode_of_file(file) == info->inode;
}

/* The entry of an fd about to be read or written, registered when new or when a traced
 * socket's fd now refers to another file (which ends the cached connection). Untraced entries
 * are not checked, so that the syscalls of other files pay nothing more: one gone stale could
 * only hide a socket that took its fd without connect/accept (fd passing). Not inlined: off
 * the write path's stack chain. */
static __noinline struct zt_conn_info *conn_of_fd(__u64 pid_tgid, int fd)
{
	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct zt_conn_info *info = bpf_map_lookup_elem(&conns, &key);
	if (info && (!info->is_traced_socket || fd_still_cached_file(fd, info)))
		return info;
	return register_fd(pid_tgid, fd, ZT_ROLE_UNKNOWN);
}

