// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture from syscall tracepoints (no kprobes, no fentry: see KERNEL.md), and the
 * connection and process lifecycles it needs.
 *
 * Every data syscall is stashed at entry (fd, buffer or iovec) and emitted at exit, once the
 * return value says how many bytes really moved. Only TCP sockets of selected processes
 * produce events (socket_fds.bpf.h). On the way, request heads get their trace context
 * (http1_linking.bpf.h) and outgoing requests their traceparent (http1_client_write.bpf.h,
 * h2_inject.bpf.h; the sk_msg side is inject.bpf.c). Threads that call into OpenSSL have
 * their socket I/O noted for the OpenSSL probes (tls_threads.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/data_capture.bpf.h"
#include "bpf/event_output.bpf.h"
#include "bpf/h2_inject.bpf.h"
#include "bpf/h2_server_reads.bpf.h"
#include "bpf/http1_client_write.bpf.h"
#include "bpf/http1_framing.bpf.h"
#include "bpf/http1_linking.bpf.h"
#include "bpf/process_events.bpf.h"
#include "bpf/selection.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_fds.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"
#include "bpf/tls_threads.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EINPROGRESS 115

/* ---- data syscalls: stash at entry ---- */

static __always_inline int stash_io(int fd, __u64 buf, __u64 iovcnt, __u64 len, __u8 syscall,
				    bool egress)
{
	if (capture_paused)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!process_selected(pid_tgid))
		return 0;
	struct zt_conn_info *info = conn_of_fd(pid_tgid, fd);
	if (!info || !info->is_traced_socket)
		return 0;
	struct syscall_args *args = stash_slot();
	if (!args) {
		count_drop(ZT_DROP_INFLIGHT_FULL);
		return 0;
	}
	args->buf = buf;
	args->iovcnt = iovcnt;
	args->len = len;
	args->enter_ns = bpf_ktime_get_ns();
	args->fd = fd;
	args->syscall = syscall;
	if (egress && !h2_classify_write(args, pid_tgid, info))
		classify_client_write(args, pid_tgid, info);
	args->stashed = 1;
	return 0;
}

/* msghdr -> (iov, iovlen) */
static __always_inline int stash_msg(int fd, __u64 msghdr, __u8 syscall)
{
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)msghdr))
		return 0;
	return stash_io(fd, (__u64)msg.msg_iov, msg.msg_iovlen ? msg.msg_iovlen : 0, 0, syscall,
			syscall == ZT_SYS_SENDMSG);
}

/* ---- data syscalls: emit at exit ---- */

static __always_inline int emit_io(long ret, __u8 direction)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct syscall_args *args = take_stashed();
	if (!args)
		return 0;
	if (args->h1_planned)
		h1_commit_write(args, ret, pid_tgid);

	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = args->fd };
	struct zt_conn_info *info = bpf_map_lookup_elem(&conns, &key);
	if (info) {
		h2_forget_unconsumed(args, info);
		h2_commit_write(args, ret, info);
	}
	if ((args->injection_pending & INJECTION_PENDING_HTTP1) && info) {
		/* sk_msg consumes the entry; one left over must not reach a later message. */
		struct zt_inject_key inject_key = {};
		inject_key_of(&info->tuple, &inject_key);
		if (bpf_map_delete_elem(&pending_injections, &inject_key) == 0)
			count_inject(ZT_INJECT_UNCONSUMED);
	}
	if (ret <= 0 || !info)
		return 0;
	if (direction == ZT_DIR_INGRESS && info->role == ZT_ROLE_SERVER &&
	    info->h2_state != ZT_H2_NOT_H2 && args->syscall != ZT_SYS_SENDFILE) {
		struct server_read read = { .pid_tgid = pid_tgid, .first = first_byte_address(args),
					    .bytes = ret, .fd = args->fd };
		note_h2_server_read(info, &read);
	}
	if (!info->is_traced_socket)
		return 0;
	note_tls_thread_io(pid_tgid, args->fd, info->generation, direction);
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	struct zt_data_event *e = &s->event;
	e->type = ZT_EVENT_DATA;
	e->direction = direction;
	e->role = info->role;
	e->syscall = args->syscall;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->fd = args->fd;
	e->generation = info->generation;
	e->timestamp_ns = direction == ZT_DIR_EGRESS ? args->enter_ns : bpf_ktime_get_ns();
	e->call_bytes = ret;
	e->tuple = info->tuple;
	/* Stream positions; concurrent I/O on one socket from two threads is not ordered
	 * anyway, so a plain read-modify-write is enough (and works before 5.12's atomics). */
	if (direction == ZT_DIR_EGRESS) {
		e->stream_offset = info->bytes_sent;
		info->bytes_sent += ret;
	} else {
		e->stream_offset = info->bytes_received;
		info->bytes_received += ret;
	}

	s->head_in_data = 0;
	classify_call(s, args, ret, direction, pid_tgid, info);

	__u64 budget = (__u64)max_pieces_per_call * ZT_PIECE_BYTES;
	struct io_walk *w = &s->walk;
	__builtin_memset(w, 0, sizeof(*w));
	w->to_capture = (__u64)ret < budget ? (__u64)ret : budget;
	if (args->syscall == ZT_SYS_SENDFILE) {
		w->to_capture = 0; /* file contents never pass through user memory */
	} else if (args->iovcnt) {
		w->iov_array = args->buf;
		w->iov_count = args->iovcnt;
	} else {
		w->cursor = args->buf;
		w->iov_left = w->to_capture;
		walk_skip_ready(w, s->head_in_data);
	}
	emit_call(s);
	return 0;
}

/* args[2] is the byte count of read/write/recvfrom/sendto and the iovec count of
 * readv/writev; the walk reads whichever applies. */
#define IO_ENTER(name, sys, buf_arg, iovcnt_expr, egress)                           \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                  \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                            \
		return stash_io(ctx->args[0], buf_arg, iovcnt_expr, ctx->args[2], sys, \
				egress);                                             \
	}
#define IO_EXIT(name, direction)                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                   \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                            \
		return emit_io(ctx->ret, direction);                                 \
	}

IO_ENTER(read, ZT_SYS_READ, ctx->args[1], 0, false)
IO_EXIT(read, ZT_DIR_INGRESS)
IO_ENTER(write, ZT_SYS_WRITE, ctx->args[1], 0, true)
IO_EXIT(write, ZT_DIR_EGRESS)
IO_ENTER(readv, ZT_SYS_READV, ctx->args[1], ctx->args[2], false)
IO_EXIT(readv, ZT_DIR_INGRESS)
IO_ENTER(writev, ZT_SYS_WRITEV, ctx->args[1], ctx->args[2], true)
IO_EXIT(writev, ZT_DIR_EGRESS)
IO_ENTER(recvfrom, ZT_SYS_RECVFROM, ctx->args[1], 0, false)
IO_EXIT(recvfrom, ZT_DIR_INGRESS)
IO_ENTER(sendto, ZT_SYS_SENDTO, ctx->args[1], 0, true)
IO_EXIT(sendto, ZT_DIR_EGRESS)
/* sendfile's bytes come from a file: only the length is reported */
IO_ENTER(sendfile64, ZT_SYS_SENDFILE, 0, 0, true)
IO_EXIT(sendfile64, ZT_DIR_EGRESS)

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_msg(ctx->args[0], ctx->args[1], ZT_SYS_RECVMSG);
}
IO_EXIT(recvmsg, ZT_DIR_INGRESS)

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_msg(ctx->args[0], ctx->args[1], ZT_SYS_SENDMSG);
}
IO_EXIT(sendmsg, ZT_DIR_EGRESS)

/* ---- connection lifecycle ---- */

static __always_inline int stash_fd(int fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (capture_paused || !process_selected(pid_tgid))
		return 0;
	struct syscall_args *args = stash_slot();
	if (!args) {
		count_drop(ZT_DROP_INFLIGHT_FULL);
		return 0;
	}
	args->fd = fd;
	args->stashed = 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	int fd = ctx->args[0];
	if (inject_enabled && process_selected(bpf_get_current_pid_tgid())) {
		/* Before the handshake: on loopback it completes (and sockops runs) inside connect(). */
		__u64 sk = (__u64)sock_of_fd(fd);
		__u8 yes = 1;
		if (sk)
			bpf_map_update_elem(&injectable_sockets, &sk, &yes, BPF_ANY);
	}
	return stash_fd(fd);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct syscall_args *stashed = take_stashed();
	if (!stashed)
		return 0;
	int fd = stashed->fd;
	/* A non-blocking connect returns -EINPROGRESS with the tuple already bound. */
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		register_fd(pid_tgid, fd, ZT_ROLE_CLIENT);
	return 0;
}

static __always_inline int accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (ret < 0 || capture_paused || !process_selected(pid_tgid))
		return 0;
	register_fd(pid_tgid, ret, ZT_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

static __always_inline int forget_fd(int fd, bool report)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!process_selected(pid_tgid))
		return 0;
	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct zt_conn_info *info = bpf_map_lookup_elem(&conns, &key);
	if (!info)
		return 0;
	if (report && info->is_traced_socket)
		emit_conn_event(ZT_EVENT_CONN_CLOSE, pid_tgid, fd, info);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	return forget_fd(ctx->args[0], true);
}

/* dup2/dup3 close their target fd silently: what it was is forgotten. */
SEC("tracepoint/syscalls/sys_enter_dup2")
int enter_dup2(struct trace_event_raw_sys_enter *ctx)
{
	return forget_fd(ctx->args[1], true);
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int enter_dup3(struct trace_event_raw_sys_enter *ctx)
{
	return forget_fd(ctx->args[1], true);
}

#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)

/* close_range(2) closes a range of fds without close(): one event, userspace ends the
 * connections it knows there (a walk of the range here could take a million steps). Their
 * `conns` entries stay until reused: conn_of_fd and register_fd find them stale then. Sent
 * at entry, so that it precedes the open of any fd the range frees. */
SEC("tracepoint/syscalls/sys_enter_close_range")
int enter_close_range(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 flags = ctx->args[2];
	/* CLOEXEC only marks the fds; unknown flags make the call fail (EINVAL). */
	if (!process_selected(pid_tgid) || (flags & CLOSE_RANGE_CLOEXEC) ||
	    (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
		return 0;
	struct zt_fds_closed_event ev = {};
	ev.type = ZT_EVENT_FDS_CLOSED;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.first_fd = ctx->args[0];
	ev.last_fd = ctx->args[1];
	ev.timestamp_ns = bpf_ktime_get_ns();
	if (ev.first_fd > ev.last_fd)
		return 0; /* EINVAL */
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), ring_flags()))
		count_drop(ZT_DROP_CONTROL_RINGBUF_FULL);
	return 0;
}

/* ---- processes ---- */

/* Children of traced processes are traced (e.g. nginx workers forked by the master). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (trace_all_processes)
		return 0;
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	if (child_tgid == parent_tgid || !bpf_map_lookup_elem(&traced_pids, &parent_tgid))
		return 0;
	__u8 one = 1;
	bpf_map_update_elem(&traced_pids, &child_tgid, &one, BPF_ANY);
	return 0;
}

/* Userspace evaluates the selection rules on the new executable and reads its /proc entries;
 * the event also carries the exe name and argv for processes gone before that. */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == agent_tgid)
		return 0;
	struct zt_proc_event *ev = new_proc_event(ZT_EVENT_PROC_EXEC);
	if (!ev)
		return 0;
	unsigned int filename_loc = ctx->__data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename),
					   (void *)ctx + filename_loc);
	ev->filename_bytes = n > 0 ? n - 1 : 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 arg_start = BPF_CORE_READ(task, mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > ZT_EXEC_ARGV_BYTES)
		len = ZT_EXEC_ARGV_BYTES;
	len &= (2 * ZT_EXEC_ARGV_BYTES - 1);
	if (len > ZT_EXEC_ARGV_BYTES)
		len = ZT_EXEC_ARGV_BYTES;
	if (len && bpf_probe_read_user(ev->argv, len, (void *)arg_start) == 0)
		ev->argv_bytes = len;
	submit_proc_event(ev, offsetof(struct zt_proc_event, argv) + ev->argv_bytes,
			  BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if ((__u32)pid_tgid != tgid || !process_selected(pid_tgid))
		return 0; /* a thread, not the process */
	bpf_map_delete_elem(&traced_pids, &tgid);
	struct zt_proc_event *ev = new_proc_event(ZT_EVENT_PROC_EXIT);
	if (ev)
		submit_proc_event(ev, offsetof(struct zt_proc_event, filename), ring_flags());
	return 0;
}
