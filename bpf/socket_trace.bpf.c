// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture from syscall tracepoints (no kprobes, no fentry: see KERNEL.md).
 *
 * Every data syscall is stashed at entry (fd, buffer or iovec) and emitted at exit, once the
 * return value says how many bytes really moved. Only TCP sockets of selected processes
 * produce events; what an fd is gets resolved once by walking the task's fd table and is then
 * cached in `conns` until close(); every data syscall checks the fd still refers to the cached
 * file (fds also die without close(): close_range, io_uring).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/socket_trace.h"
#include "bpf/goroutine_maps.bpf.h"
#include "bpf/h2_preface.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define EINPROGRESS 115

/* Settings written by userspace before load. */
const volatile __u32 agent_tgid = 0;       /* never traced */
const volatile __u8 trace_all_processes = 1; /* else only tgids in traced_pids */
const volatile __u8 filter_by_port = 0;    /* only connections with a port in traced_ports */
const volatile __u32 max_pieces_per_call = 4;
const volatile __u32 traceparent_scan_bytes = 2048; /* of a request head, for its traceparent */
const volatile __u8 inject_enabled = 0;             /* queue traceparent headers for sk_msg */

#include "bpf/http1_context.bpf.h"

/* key: tgid; value: unused. Written by userspace (selection rules) and by the fork hook
 * (children of traced processes); deleted by the exit hook and by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} traced_pids SEC(".maps");

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

/* A syscall's arguments are assembled here, not on the stack, before they go into inflight:
 * the write path's call chain (its HTTP/2 frame walk included) must stay under the
 * verifier's 512-byte stack (tools/bpf_stack_budget.py checks it at build time). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syscall_args);
} args_scratch SEC(".maps");

/* key: enum zt_drop_reason; value: count on this CPU. Written here, read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_DROP_REASON_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

/* Walk state of one call's bytes across its buffer or iovecs. */
struct io_walk {
	__u64 iov_array;  /* 0 for a plain buffer */
	__u64 iov_count;
	__u64 iov_index;
	__u64 cursor;     /* user address of the next byte */
	__u64 iov_left;   /* bytes left in the current buffer */
	__u64 to_capture; /* bytes still to copy within the capture budget */
	__u64 call_offset; /* position of the next piece within the call */
	__u64 filled;      /* bytes of the piece being assembled in event.data */
	__u64 last_sent;
};

/* A data event is assembled here (too big for the stack), then copied into the ring with
 * its exact size. The walk state lives here too, not on the stack: the verifier does not
 * track values in map memory, so loop iterations do not multiply its states. */
struct data_scratch {
	struct zt_data_event event;
	/* Room past event.data: a copy at a masked offset into the piece, and header parsing
	 * at a masked position, may reach this far in the verifier's eyes. */
	__u8 tail[ZT_PIECE_BYTES];
	struct io_walk walk;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

/* Waking the reader for every event costs more than capturing it: wake it only once a batch
 * has accumulated; the reader also polls on a short timeout, which bounds the latency. */
#define WAKEUP_THRESHOLD_BYTES (256 * 1024)
static __always_inline __u64 ring_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_THRESHOLD_BYTES ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&drop_counters, &reason);
	if (count)
		*count += 1; /* per-CPU value: no atomic needed */
}

static __always_inline bool process_selected(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (tgid == agent_tgid)
		return false;
	if (trace_all_processes)
		return true;
	return bpf_map_lookup_elem(&traced_pids, &tgid) != NULL;
}

static __always_inline bool port_selected(const struct zt_tuple *t)
{
	if (!filter_by_port)
		return true;
	__u16 local = t->local_port, remote = t->remote_port;
	return bpf_map_lookup_elem(&traced_ports, &local) ||
	       bpf_map_lookup_elem(&traced_ports, &remote);
}

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

/* ---- trace context ----
 *
 * A thread that reads a request head serves that request until its connection starts an
 * answer: a client request the same thread writes meanwhile is its child. Threads seen
 * reading a second request while one is unanswered multiplex requests (event loops): their
 * client requests get no parent rather than a possibly wrong one. Processes whose threads do
 * not map to requests at all are not marked thread-linkable by userspace; Go processes are
 * linked by goroutine instead (goroutine_maps.bpf.h).
 */

/* key: pid_tgid; value: the request the thread serves. Written when the thread reads a request
 * head, replaced by its next one; LRU: threads that vanish age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct served_request);
} thread_requests SEC(".maps");

/* key: pid_tgid; value: unused. Threads seen multiplexing requests; written here, LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} multiplexing_threads SEC(".maps");

/* key: tgid; value: unused. Processes userspace has checked to be ones whose threads map to
 * the requests they serve (not Go). Until a process is checked its client requests get no
 * parent by thread: unlinked is acceptable, wrongly linked is not. Written and deleted by
 * userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} thread_linkable_processes SEC(".maps");

/* An unanswered request a process serves, found by its request line. */
struct line_key {
	__u32 tgid;
	__u32 pad;
	__u64 line_hash; /* FNV-1a of "METHOD target" */
};
struct open_request {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	__u8 ambiguous; /* two unanswered requests with this line: never matched */
	__u8 pad[2];
	__s32 fd;
	__u64 generation;
	__u32 request_number;
	__u32 pad2;
};

/* key: (tgid, request line hash); value: the latest request read with that line. Written when
 * a request head is read; LRU: answered requests age out (a stale one is recognised by its
 * connection's response counter). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct line_key);
	__type(value, struct open_request);
} open_requests_by_line SEC(".maps");

#define REQUEST_LINE_HASH_MAX_BYTES 256

struct line_hash_state {
	const __u8 *data;
	__u32 len;
	__u32 spaces;
	__u64 hash;
};

/* bpf_loop callback: FNV-1a over the request line up to the space before the version. */
static long hash_line_byte(__u32 index, void *arg)
{
	struct line_hash_state *st = arg;
	__u32 i = index & (REQUEST_LINE_HASH_MAX_BYTES - 1);
	if (i >= st->len)
		return 1;
	__u8 c = st->data[i];
	if (c == '\r' || c == '\n')
		return 1;
	if (c == ' ' && ++st->spaces == 2)
		return 1;
	st->hash = (st->hash ^ c) * 0x100000001b3ULL;
	return 0;
}

#define LINE_HASH_SEED 0xcbf29ce484222325ULL /* FNV-1a offset basis */

/* The hash state after the first n bytes of a request line (read earlier: a split head). */
static __always_inline __u64 line_hash_seed(const __u8 *prefix, __u32 n)
{
	__u64 hash = LINE_HASH_SEED;
	for (__u32 i = 0; i < 4; i++) {
		if (i < n)
			hash = (hash ^ prefix[i]) * 0x100000001b3ULL;
	}
	return hash;
}

/* Hash of "METHOD target" of the request head in data[0..len), whose line starts with the
 * bytes `seed` hashed (LINE_HASH_SEED: none). 0 when unavailable. */
static __always_inline __u64 request_line_hash(const __u8 *data, __u32 len, __u64 seed)
{
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
		return 0;
	struct line_hash_state st = { .data = data, .len = len, .hash = seed };
	if (st.len > REQUEST_LINE_HASH_MAX_BYTES)
		st.len = REQUEST_LINE_HASH_MAX_BYTES;
	bpf_loop(REQUEST_LINE_HASH_MAX_BYTES, hash_line_byte, &st, 0);
	return st.spaces == 2 ? st.hash : 0; /* a cut line is not matched */
}

/* The goroutine (its g) of a Go process in a syscall, 0 for other processes. Go makes
 * syscalls from Go code (runtime/internal/syscall.Syscall6 is ABIInternal since Go 1.19),
 * where R14 holds g; the task's saved user registers still have it at the syscall. */
static __always_inline __u64 current_goroutine(__u32 tgid)
{
	if (!bpf_map_lookup_elem(&go_processes, &tgid))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 g = 0;
	if (!regs || bpf_probe_read_kernel(&g, sizeof(g), &regs->r14))
		return 0;
	return g;
}

/* A request head was read on a server socket: start (or continue) its trace and make it the
 * thread's current request. The head's first bytes are already in s->event.data, after the
 * bytes line_seed hashed (a head split across reads). */
/* The read that brought a request head (the arguments of on_server_request). */
struct head_read {
	__u64 pid_tgid;
	__u64 line_seed; /* hash state of the line's bytes read before (a split head) */
	__u32 head_bytes;
	__s32 fd;
};

/* A global function (not inlined): the verifier checks it once on its own, not once per
 * state the syscall's classification reaches it with (which took the ingress programs near
 * the verifier's 1M-instruction limit). */
__noinline int on_server_request(struct data_scratch *s, struct zt_conn_info *info,
				 const struct head_read *read)
{
	if (!s || !info || !read)
		return 0;
	__u64 pid_tgid = read->pid_tgid;
	__u32 head_bytes = read->head_bytes;
	int fd = read->fd;
	__u64 line_seed = read->line_seed;
	struct zt_trace_context *ctx = &s->event.trace;
	int value = server_context_of_head(s->event.data, head_bytes, ctx);
	/* Some servers read a head in pieces: keep looking in the connection's next read. */
	info->head_pending = value == TRACEPARENT_UNKNOWN;

	info->requests_read += 1;
	struct served_request *previous = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (previous) {
		struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = previous->fd };
		struct zt_conn_info *previous_conn = bpf_map_lookup_elem(&conns, &key);
		bool unanswered = previous_conn && previous_conn->generation == previous->generation &&
				  previous_conn->responses_started < previous->request_number &&
				  !(previous->fd == fd && previous->generation == info->generation);
		if (unanswered) {
			__u8 one = 1;
			bpf_map_update_elem(&multiplexing_threads, &pid_tgid, &one, BPF_ANY);
		}
	}
	struct line_key lkey = { .tgid = pid_tgid >> 32,
				 .line_hash = request_line_hash(s->event.data, head_bytes, line_seed) };
	if (lkey.line_hash) {
		struct open_request open = {};
		struct open_request *same_line = bpf_map_lookup_elem(&open_requests_by_line, &lkey);
		if (same_line && request_unanswered(lkey.tgid, same_line->fd, same_line->generation,
						    same_line->request_number))
			open.ambiguous = 1;
		__builtin_memcpy(open.trace_id, ctx->trace_id, 16);
		__builtin_memcpy(open.span_id, ctx->span_id, 8);
		open.trace_flags = ctx->trace_flags;
		open.fd = fd;
		open.generation = info->generation;
		open.request_number = info->requests_read;
		bpf_map_update_elem(&open_requests_by_line, &lkey, &open, BPF_ANY);
	}

	struct served_request current = {};
	__builtin_memcpy(current.trace_id, ctx->trace_id, 16);
	__builtin_memcpy(current.span_id, ctx->span_id, 8);
	current.trace_flags = ctx->trace_flags;
	current.fd = fd;
	current.generation = info->generation;
	current.request_number = info->requests_read;
	current.line_hash = lkey.line_hash;
	bpf_map_update_elem(&thread_requests, &pid_tgid, &current, BPF_ANY);
	struct goroutine_key g = { .tgid = pid_tgid >> 32, .g = current_goroutine(pid_tgid >> 32) };
	if (g.g)
		bpf_map_update_elem(&goroutine_requests, &g, &current, BPF_ANY);
	return 0;
}

/* The next read of a request head that continued past its first read: a traceparent found
 * here still becomes the trace of the thread's request (before any child call is written). */
__noinline int on_server_head_continued(struct data_scratch *s, struct zt_conn_info *info,
					const struct head_read *read)
{
	if (!s || !info || !read)
		return 0;
	__u64 pid_tgid = read->pid_tgid;
	__u32 bytes = read->head_bytes;
	int fd = read->fd;
	info->head_pending = 0;
	struct zt_trace_context header = {};
	int value = find_traceparent(s->event.data, bytes, NULL);
	if (value < 0 && bytes >= 12 + TRACEPARENT_VALUE_BYTES) {
		/* the header may start this read: the scan only looks after line feeds */
		__u64 head;
		__u32 tail;
		__builtin_memcpy(&head, &s->event.data[0], 8);
		__builtin_memcpy(&tail, &s->event.data[8], 4);
		if (LOWER8(head) == *(const __u64 *)"tracepar" &&
		    (tail | 0x20202020) == *(const __u32 *)"ent:")
			value = 12;
	}
	if (value == TRACEPARENT_UNKNOWN)
		info->head_pending = 1;
	if (value < 0 || !parse_traceparent(s->event.data, value, bytes, &header))
		return 0;
	struct served_request *served = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (!served || served->fd != fd || served->generation != info->generation)
		return 0;
	__builtin_memcpy(served->trace_id, header.trace_id, 16);
	served->trace_flags = header.trace_flags;
	struct goroutine_key g = { .tgid = pid_tgid >> 32, .g = current_goroutine(pid_tgid >> 32) };
	struct served_request *by_goroutine = g.g ? bpf_map_lookup_elem(&goroutine_requests, &g) : NULL;
	if (by_goroutine && by_goroutine->fd == fd && by_goroutine->generation == info->generation) {
		__builtin_memcpy(by_goroutine->trace_id, header.trace_id, 16);
		by_goroutine->trace_flags = header.trace_flags;
	}
	struct line_key lkey = { .tgid = pid_tgid >> 32, .line_hash = served->line_hash };
	struct open_request *open = lkey.line_hash ?
		bpf_map_lookup_elem(&open_requests_by_line, &lkey) : NULL;
	if (open && open->fd == fd && open->generation == info->generation) {
		__builtin_memcpy(open->trace_id, header.trace_id, 16);
		open->trace_flags = header.trace_flags;
	}
	return 0;
}

/* The parent the thread rules give a client request written by this thread: *origin is
 * THREAD (the returned request), or why there is none. */
static __always_inline struct served_request *parent_by_thread(__u64 pid_tgid, __u8 *origin)
{
	__u32 tgid = pid_tgid >> 32;
	struct served_request *served = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	*origin = ZT_CTX_CLIENT_ROOT;
	if (!served)
		return NULL;
	if (!request_unanswered(tgid, served->fd, served->generation, served->request_number))
		*origin = ZT_CTX_CLIENT_STALE;
	else if (!bpf_map_lookup_elem(&thread_linkable_processes, &tgid))
		*origin = ZT_CTX_CLIENT_UNTRUSTED;
	else if (bpf_map_lookup_elem(&multiplexing_threads, &pid_tgid))
		*origin = ZT_CTX_CLIENT_AMBIGUOUS;
	else
		*origin = ZT_CTX_CLIENT_THREAD;
	return *origin == ZT_CTX_CLIENT_THREAD ? served : NULL;
}

/* The unanswered request of this process whose request line this client request repeats
 * (a proxy forwarding it), when exactly one has it. */
static __always_inline struct open_request *forwarded_request(__u32 tgid, const __u8 *head,
							      __u32 head_len)
{
	if (!head_len)
		return NULL;
	struct line_key lkey = { .tgid = tgid,
				 .line_hash = request_line_hash(head, head_len, LINE_HASH_SEED) };
	if (!lkey.line_hash)
		return NULL;
	struct open_request *forwarded = bpf_map_lookup_elem(&open_requests_by_line, &lkey);
	if (forwarded && (forwarded->ambiguous ||
			  !request_unanswered(tgid, forwarded->fd, forwarded->generation,
					      forwarded->request_number)))
		return NULL;
	return forwarded;
}

/* A request head is being written on a client socket: its span's parent is the request the
 * thread (or, in Go, the goroutine) serves, or the one it forwards, when that can be known
 * for sure. When two rules name different requests there is no parent. */
static __always_inline void on_client_request(struct zt_trace_context *ctx, __u64 pid_tgid,
					      const __u8 *head, __u32 head_len)
{
	__u32 tgid = pid_tgid >> 32;
	__u8 origin;
	const struct served_request *in_process = parent_by_thread(pid_tgid, &origin);
	struct served_request by_goroutine;
	__u64 g = current_goroutine(tgid);
	if (g && parent_by_goroutine(tgid, g, &by_goroutine, &origin))
		in_process = &by_goroutine;
	struct open_request *forwarded = forwarded_request(tgid, head, head_len);
	if (forwarded && in_process &&
	    __builtin_memcmp(forwarded->span_id, in_process->span_id, 8) != 0) {
		forwarded = NULL;
		in_process = NULL;
		origin = ZT_CTX_CLIENT_AMBIGUOUS;
	}
	if (in_process) { /* origin: THREAD or GOROUTINE, also when the line agrees */
		__builtin_memcpy(ctx->trace_id, in_process->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, in_process->span_id, 8);
		ctx->trace_flags = in_process->trace_flags;
	} else if (forwarded) {
		__builtin_memcpy(ctx->trace_id, forwarded->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, forwarded->span_id, 8);
		ctx->trace_flags = forwarded->trace_flags;
		origin = ZT_CTX_CLIENT_LINE_MATCH;
	} else {
		random_bytes(ctx->trace_id, 16);
		__builtin_memset(ctx->parent_span_id, 0, 8);
		ctx->trace_flags = ZT_TRACE_FLAG_SAMPLED;
	}
	random_bytes(ctx->span_id, 8);
	ctx->origin = origin;
}

static __always_inline void inject_key_of(const struct zt_tuple *t, struct zt_inject_key *key)
{
	__builtin_memcpy(key->local_addr, t->local_addr, 16);
	__builtin_memcpy(key->remote_addr, t->remote_addr, 16);
	key->family = t->family;
	key->local_port = t->local_port;
	key->remote_port = t->remote_port;
}

/* key: (tgid, fd) of a client connection opened before the agent (its connect() was not
 * seen, so its role is unknown); value: unused. Written by userspace when it adopts the
 * connection for injection; deleted here when its first request makes it a client. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct zt_conn_key);
	__type(value, __u8);
} client_fd_hints SEC(".maps");

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

#include "bpf/http1_framing.bpf.h"

/* At the entry of a write on a client connection whose boundaries are known and that is
 * inside a message: never a new request (a body may look like one). */
static __always_inline void client_write_in_message(struct syscall_args *args,
						    struct zt_conn_info *info)
{
	h1_plan(args, info, info->h1_message_left, 0);
	args->h1_chunked = info->h1_chunk_state != H1_CHUNK_NONE;
	__u32 first4 = 0;
	__u64 first = args->syscall == ZT_SYS_SENDFILE ? 0 : first_byte_address(args);
	if (first && !bpf_probe_read_user(&first4, 4, (void *)first) && is_request_start(first4))
		count_inject(ZT_INJECT_H1_IN_MESSAGE);
}

/* Queues for sk_msg the traceparent of the request a write starts (its context is made),
 * right after its request line. Not inlined: the entry is built on a frame of its own, off
 * the head scan's call chain. */
static __noinline void queue_injection(struct syscall_args *args, const struct zt_conn_info *info,
				       __u32 insert_offset, __u32 first4)
{
	struct zt_pending_injection pending = {};
	pending.trace = args->trace;
	pending.insert_offset = insert_offset;
	pending.first4 = first4;
	struct zt_inject_key key = {};
	inject_key_of(&info->tuple, &key);
	if (bpf_map_update_elem(&pending_injections, &key, &pending, BPF_ANY) == 0)
		args->injection_pending |= INJECTION_PENDING_HTTP1;
}

/* A Kafka Produce request (kafka.apache.org/protocol: int32 size, int16 api_key 0, int16
 * api_version) begins the write's first buffer. */
static __always_inline bool kafka_produce_at(const struct syscall_args *args, __u64 first,
					     __u32 first4)
{
	__u64 first_len = args->len;
	if (args->iovcnt) {
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
			return false;
		first_len = iov.iov_len;
	}
	__u32 next4 = 0;
	if (first_len < 8 || bpf_probe_read_user(&next4, 4, (void *)(first + 4)))
		return false;
	__u32 size = bpf_ntohl(first4);
	return size >= 10 && size <= (256u << 20) && (next4 & 0xffff) == 0 && /* api_key 0 */
	       bpf_ntohs(next4 >> 16) <= 12;                                 /* api_version */
}

/* At the entry of a write: if it starts a request on a client socket, make the client span's
 * context and, when injection is on, queue its traceparent for sk_msg. Only into a request
 * that starts at a message boundary the kernel knows (http1_framing.bpf.h), whose head it
 * saw whole, and that carries no traceparent of its own (the application's context stands).
 */
static __noinline void classify_client_write(struct syscall_args *args, __u64 pid_tgid,
					      struct zt_conn_info *info)
{
	bool framed = h1_boundaries_known(info);
	if (framed && (info->h1_message_left || info->h1_chunk_state != H1_CHUNK_NONE)) {
		client_write_in_message(args, info);
		return;
	}
	if (args->syscall == ZT_SYS_SENDFILE) {
		if (framed) { /* a message whose head cannot be read, if it sends anything */
			h1_plan(args, info, 0, 0);
			args->h1_unread = 1;
		}
		return;
	}
	__u64 first = first_byte_address(args);
	__u32 first4 = 0;
	if (!first || bpf_probe_read_user(&first4, 4, (void *)first)) {
		if (framed && args->len) /* nothing can go out of an unreadable buffer; be sure */
			h1_stop(info, ZT_INJECT_H1_NOT_HTTP1);
		return;
	}
	bool request_start = is_request_start(first4);
	if (!request_start && !framed) {
		/* A Kafka Produce follows the in-process rules of an HTTP request (never injected:
		 * its context travels in records, which the agent does not rewrite). */
		if (info->role == ZT_ROLE_CLIENT && kafka_produce_at(args, first, first4))
			on_client_request(&args->trace, pid_tgid, NULL, 0);
		return;
	}
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	/* The head is looked at in the first buffer only. Without injection only the request line
	 * (for forwarded-request linking) is needed. */
	__u32 head = inject_enabled ? traceparent_scan_bytes : REQUEST_LINE_HASH_MAX_BYTES;
	if (head > TRACEPARENT_SCAN_MAX_BYTES)
		head = TRACEPARENT_SCAN_MAX_BYTES;
	__u64 first_len = args->iovcnt ? 0 : args->len;
	if (args->iovcnt) {
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
			return;
		first_len = iov.iov_len;
	}
	if (framed && !args->iovcnt && !first_len)
		return; /* writes nothing */
	if (first_len < head)
		head = first_len;
	head &= (2 * TRACEPARENT_SCAN_MAX_BYTES - 1);
	if (head > TRACEPARENT_SCAN_MAX_BYTES)
		head = TRACEPARENT_SCAN_MAX_BYTES;
	if (bpf_probe_read_user(s->event.data, head, (void *)first))
		head = 0;
	if (request_start)
		on_client_request(&args->trace, pid_tgid, s->event.data, head);
	if (!inject_enabled)
		return;
	struct zt_conn_key conn_key = { .tgid = pid_tgid >> 32, .fd = args->fd };
	if (request_start && info->role == ZT_ROLE_UNKNOWN &&
	    bpf_map_lookup_elem(&client_fd_hints, &conn_key)) {
		/* Adopted at startup: what it sent before the agent is unknown, and so is where
		 * its messages begin. Its requests are traced, never injected. */
		info->role = ZT_ROLE_CLIENT;
		bpf_map_delete_elem(&client_fd_hints, &conn_key);
		count_inject(ZT_INJECT_H1_JOINED_MIDWAY);
	}
	if (!framed) {
		if (request_start && info->role == ZT_ROLE_CLIENT)
			count_inject(ZT_INJECT_H1_UNKNOWN_BOUNDARY);
		return;
	}

	/* At a boundary: the head says where this message ends. */
	struct h1_head h = { .len = head, .first_len = first_len };
	h.starts_like_request = head >= 4 ? request_start : is_request_start_prefix(first4, head);
	h1_frame_head(s, &h);
	if (h.stop == H1_FOLLOW) {
		h1_plan(args, info, h.message_bytes, h.head_bytes);
		args->h1_chunked = h.chunked;
	} else {
		h1_stop(info, h.stop);
	}
	if (!h.whole || !request_start)
		return;
	if (h.has_traceparent) {
		count_inject(ZT_INJECT_HAD_HEADER);
		return;
	}
	queue_injection(args, info, h.line_end, first4);
}

/* A read on a server socket (the arguments of note_h2_server_read). */
struct server_read {
	__u64 pid_tgid;
	__u64 first; /* address of the first byte read */
	__s64 bytes;
	__s32 fd;
	__u32 pad;
};

/* HTTP/2 server connections are known by the client preface that opens their ingress. In a
 * Go process the goroutine that reads one is recorded: the gRPC probes learn from it which
 * connection the headers they decode came from (goroutine_maps.bpf.h). Untraced sockets are
 * recorded too, so that their streams are skipped rather than counted as of an unknown
 * connection. Global: verified once. */
__noinline int note_h2_server_read(struct zt_conn_info *info, const struct server_read *read)
{
	if (!info || !read || info->role != ZT_ROLE_SERVER)
		return 0;
	if (info->h2_state == ZT_H2_UNDECIDED) /* the first read seen decides */
		info->h2_state = h2_preface_at(read->first, read->bytes) ? ZT_H2_SERVER : ZT_H2_NOT_H2;
	if (info->h2_state != ZT_H2_SERVER)
		return 0;
	__u32 tgid = read->pid_tgid >> 32;
	__u64 g = current_goroutine(tgid);
	struct h2_reader reader = { .fd = read->fd,
				    .traced = info->is_traced_socket,
				    .generation = info->generation };
	if (g)
		note_h2_reader(tgid, g, &reader);
	return 0;
}

/* Sets s->event.trace for the call about to be emitted: request heads get a context, other
 * data none. A server response start marks the served request as answered. A request head
 * split across reads (http1_context.bpf.h) gets its context in the read that completes its
 * method. on_server_request has one call site: every copy of it is verified again. */
static __always_inline void classify_call(struct data_scratch *s, const struct syscall_args *args,
					  long ret, __u8 direction, __u64 pid_tgid,
					  struct zt_conn_info *info)
{
	struct zt_trace_context *ctx = &s->event.trace;
	ctx->origin = ZT_CTX_NONE;
	ctx->flags = 0;
	if (args->syscall == ZT_SYS_SENDFILE || ret <= 0)
		return;
	__u64 first = first_byte_address(args);
	struct split_head split = {};
	enum split_head_result step = SPLIT_HEAD_NONE;
	if (direction == ZT_DIR_INGRESS && (ret < 5 || info->head_prefix_len)) {
		bool may_begin = info->role == ZT_ROLE_SERVER &&
				 info->responses_started == info->requests_read;
		step = split_head_step(&info->head_prefix_len, info->head_prefix, first, ret,
				       may_begin, &split);
		if (step == SPLIT_HEAD_KEPT)
			return;
	}
	bool head_completed = step == SPLIT_HEAD_COMPLETED;
	if (ret < 5 && !head_completed)
		return;
	__u32 first4 = 0;
	if (!first || bpf_probe_read_user(&first4, 4, (void *)first))
		return;
	if (direction == ZT_DIR_EGRESS && args->trace.origin != ZT_CTX_NONE) {
		*ctx = args->trace; /* made at syscall entry, before sk_msg could inject it */
	} else if (head_completed || is_request_start(first4)) {
		if (direction == ZT_DIR_INGRESS) {
			/* Only the first iovec is scanned for the header (where heads are). */
			__u32 head = ret < traceparent_scan_bytes ? ret : traceparent_scan_bytes;
			if (head > ZT_PIECE_BYTES)
				head = ZT_PIECE_BYTES;
			if (bpf_probe_read_user(s->event.data, head, (void *)first))
				head = 0;
			__u64 seed = head_completed ? line_hash_seed(split.prefix, split.prefix_len)
						    : LINE_HASH_SEED;
			struct head_read read = { .pid_tgid = pid_tgid, .line_seed = seed,
						  .head_bytes = head, .fd = args->fd };
			on_server_request(s, info, &read);
			if (head_completed)
				ctx->flags = ZT_CTX_FLAG_BEGAN_IN_PREVIOUS_CALL;
		}
	} else if (direction == ZT_DIR_INGRESS && info->head_pending) {
		__u32 bytes = ret < traceparent_scan_bytes ? ret : traceparent_scan_bytes;
		if (bytes > ZT_PIECE_BYTES)
			bytes = ZT_PIECE_BYTES;
		if (bpf_probe_read_user(s->event.data, bytes, (void *)first) == 0)
		{
			struct head_read read = { .pid_tgid = pid_tgid, .head_bytes = bytes,
						  .fd = args->fd };
			on_server_head_continued(s, info, &read);
		}
		else
			info->head_pending = 0;
	} else if (direction == ZT_DIR_EGRESS && first4 == METHOD4('H', 'T', 'T', 'P') &&
		   info->responses_started < info->requests_read) {
		info->responses_started += 1;
	}
}

#include "bpf/h2_inject.bpf.h"

/* ---- data syscalls: stash at entry ---- */

static __always_inline int stash_io(int fd, __u64 buf, __u64 iovcnt, __u64 len, __u8 syscall,
				    bool egress)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!process_selected(pid_tgid))
		return 0;
	struct zt_conn_info *info = conn_of_fd(pid_tgid, fd);
	if (!info || !info->is_traced_socket)
		return 0;
	__u32 zero = 0;
	struct syscall_args *args = bpf_map_lookup_elem(&args_scratch, &zero);
	if (!args)
		return 0;
	__builtin_memset(args, 0, sizeof(*args));
	args->buf = buf;
	args->iovcnt = iovcnt;
	args->len = len;
	args->enter_ns = bpf_ktime_get_ns();
	args->fd = fd;
	args->syscall = syscall;
	if (egress && !h2_classify_write(args, pid_tgid, info))
		classify_client_write(args, pid_tgid, info);
	if (bpf_map_update_elem(&inflight, &pid_tgid, args, BPF_ANY))
		count_drop(ZT_DROP_INFLIGHT_FULL);
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


static __always_inline void submit_piece(struct data_scratch *s, __u32 length, __u32 call_offset,
					 __u8 flags)
{
	struct zt_data_event *e = &s->event;
	length &= (2 * ZT_PIECE_BYTES - 1);
	if (length > ZT_PIECE_BYTES)
		length = ZT_PIECE_BYTES;
	e->captured_bytes = length;
	e->call_offset = call_offset;
	e->flags = flags;
	if (bpf_ringbuf_output(&events, e, offsetof(struct zt_data_event, data) + length,
			       ring_flags()))
		count_drop(ZT_DROP_DATA_RINGBUF_FULL);
}

/*
 * Copies the call's bytes, up to the capture budget, into the ring as pieces of ZT_PIECE_BYTES
 * (the last one shorter), small iovecs packed together: grpc++ writes one iovec per header
 * field. One step either moves to the next iovec or copies what fits of the current one. The
 * last piece carries ZT_DATA_LAST_PIECE; if the walk stops early (unreadable memory, too many
 * iovecs) that piece still tells userspace the call ended, and the rest is a gap.
 */
static __always_inline long walk_step(struct data_scratch *s, struct io_walk *w)
{
	if (w->to_capture == 0)
		return 1;
	if (w->iov_left == 0) {
		if (!w->iov_array || w->iov_index >= w->iov_count || w->iov_index >= ZT_MAX_IOVECS)
			return 1;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(void *)(w->iov_array + w->iov_index * sizeof(struct iovec))))
			return 1;
		w->iov_index++;
		w->cursor = (__u64)iov.iov_base;
		w->iov_left = iov.iov_len < w->to_capture ? iov.iov_len : w->to_capture;
		return 0;
	}
	__u64 room = ZT_PIECE_BYTES - w->filled;
	__u32 n = w->iov_left < room ? w->iov_left : room;
	__u32 at = w->filled & (ZT_PIECE_BYTES - 1);
	n &= 2 * ZT_PIECE_BYTES - 1;
	if (n > ZT_PIECE_BYTES || bpf_probe_read_user(s->event.data + at, n, (void *)w->cursor))
		return 1; /* unreadable user memory: the rest becomes a gap */
	w->filled += n;
	w->cursor += n;
	w->iov_left -= n;
	w->to_capture -= n;
	if (w->to_capture == 0) {
		submit_piece(s, w->filled, w->call_offset, ZT_DATA_LAST_PIECE);
		w->last_sent = 1;
		return 1;
	}
	if (w->filled == ZT_PIECE_BYTES) {
		submit_piece(s, ZT_PIECE_BYTES, w->call_offset, 0);
		s->event.trace.origin = ZT_CTX_NONE; /* the context rides on the first piece only */
		w->call_offset += ZT_PIECE_BYTES;
		w->filled = 0;
	}
	return 0;
}

/* bpf_loop callback: one walk step on this CPU's scratch. */
static long walk_step_callback(__u32 index, void *unused)
{
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	return s ? walk_step(s, &s->walk) : 1;
}

/* Steps of a walk: each completes an iovec or a piece. Without bpf_loop (before 5.17) the
 * verifier takes a bounded loop of far fewer. */
#define WALK_STEPS (2 * ZT_MAX_IOVECS + ZT_MAX_PIECES_PER_CALL)
#define WALK_STEPS_WITHOUT_LOOP 48

/* A global (not inlined) function: the verifier checks it once, on its own, instead of once
 * for every distinct state the request classification before it can leave. */
__noinline int emit_call(struct data_scratch *s)
{
	if (!s)
		return 0;
	struct io_walk *w = &s->walk;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop)) {
		bpf_loop(WALK_STEPS, walk_step_callback, NULL, 0);
	} else {
		for (int i = 0; i < WALK_STEPS_WITHOUT_LOOP; i++) {
			if (walk_step(s, w))
				break;
		}
	}
	if (!w->last_sent)
		submit_piece(s, w->filled, w->call_offset, ZT_DATA_LAST_PIECE);
	return 0;
}

static __always_inline int emit_io(long ret, __u8 direction)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct syscall_args *stashed = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!stashed)
		return 0;
	if (stashed->h1_planned)
		h1_commit_write(stashed, ret, pid_tgid);
	struct syscall_args args = *stashed;
	bpf_map_delete_elem(&inflight, &pid_tgid);

	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = args.fd };
	struct zt_conn_info *info = bpf_map_lookup_elem(&conns, &key);
	if (info) {
		h2_forget_unconsumed(&args, info);
		h2_commit_write(&args, ret, info);
	}
	if ((args.injection_pending & INJECTION_PENDING_HTTP1) && info) {
		/* sk_msg consumes the entry; one left over must not reach a later message. */
		struct zt_inject_key inject_key = {};
		inject_key_of(&info->tuple, &inject_key);
		if (bpf_map_delete_elem(&pending_injections, &inject_key) == 0)
			count_inject(ZT_INJECT_UNCONSUMED);
	}
	if (ret <= 0 || !info)
		return 0;
	if (direction == ZT_DIR_INGRESS && info->role == ZT_ROLE_SERVER &&
	    info->h2_state != ZT_H2_NOT_H2 && args.syscall != ZT_SYS_SENDFILE) {
		struct server_read read = { .pid_tgid = pid_tgid, .first = first_byte_address(&args),
					    .bytes = ret, .fd = args.fd };
		note_h2_server_read(info, &read);
	}
	if (!info->is_traced_socket)
		return 0;
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	struct zt_data_event *e = &s->event;
	e->type = ZT_EVENT_DATA;
	e->direction = direction;
	e->role = info->role;
	e->syscall = args.syscall;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->fd = args.fd;
	e->generation = info->generation;
	e->timestamp_ns = direction == ZT_DIR_EGRESS ? args.enter_ns : bpf_ktime_get_ns();
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

	classify_call(s, &args, ret, direction, pid_tgid, info);

	__u64 budget = (__u64)max_pieces_per_call * ZT_PIECE_BYTES;
	struct io_walk *w = &s->walk;
	__builtin_memset(w, 0, sizeof(*w));
	w->to_capture = (__u64)ret < budget ? (__u64)ret : budget;
	if (args.syscall == ZT_SYS_SENDFILE) {
		w->to_capture = 0; /* file contents never pass through user memory */
	} else if (args.iovcnt) {
		w->iov_array = args.buf;
		w->iov_count = args.iovcnt;
	} else {
		w->cursor = args.buf;
		w->iov_left = w->to_capture;
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
	if (!process_selected(pid_tgid))
		return 0;
	struct syscall_args args = { .fd = fd };
	if (bpf_map_update_elem(&inflight, &pid_tgid, &args, BPF_ANY))
		count_drop(ZT_DROP_INFLIGHT_FULL);
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
	struct syscall_args *stashed = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!stashed)
		return 0;
	int fd = stashed->fd;
	bpf_map_delete_elem(&inflight, &pid_tgid);
	/* A non-blocking connect returns -EINPROGRESS with the tuple already bound. */
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		register_fd(pid_tgid, fd, ZT_ROLE_CLIENT);
	return 0;
}

static __always_inline int accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (ret < 0 || !process_selected(pid_tgid))
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

/* Process events are too big for the stack (argv). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zt_proc_event);
} proc_scratch SEC(".maps");

static __always_inline struct zt_proc_event *new_proc_event(__u8 type)
{
	__u32 zero = 0;
	struct zt_proc_event *ev = bpf_map_lookup_elem(&proc_scratch, &zero);
	if (!ev)
		return NULL;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	ev->type = type;
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->timestamp_ns = bpf_ktime_get_ns();
	ev->start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->filename_bytes = 0;
	ev->argv_bytes = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return ev;
}

static __always_inline void submit_proc_event(struct zt_proc_event *ev, __u64 size, __u64 flags)
{
	if (size > sizeof(*ev))
		size = sizeof(*ev);
	if (bpf_ringbuf_output(&events, ev, size, flags))
		count_drop(ZT_DROP_CONTROL_RINGBUF_FULL);
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
