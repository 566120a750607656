// SPDX-License-Identifier: GPL-2.0
/*
 * OpenSSL probes (uprobes on libssl.so, or on an executable that links OpenSSL statically and
 * keeps its symbols, such as node): the plaintext of SSL_read, SSL_read_ex, SSL_write and
 * SSL_write_ex, emitted as zt_data_event pieces on the socket under the SSL object, with the
 * TLS generation bit, so userspace parses it like plaintext captured at the syscall layer.
 * Request heads are linked by thread as at the syscall layer (link_by_thread): an HTTPS call
 * made while a thread serves a request is that request's child.
 *
 * Two sites per function, both chosen by probes/openssl (symbolizer/ssl_sites.h):
 * - ssl_call_enter: where the arguments are in registers. In Debian's libssl this is the
 *   `call` into ssl_{read,write}_internal (an instruction the kernel emulates: ~0.6 us instead
 *   of ~10 us for a single-stepped one); in node, the entry's `push %rbp` (emulated too).
 * - ssl_call_result: where the result is known. In SSL_read/SSL_write of Debian's libssl, the
 *   jcc that tests the internal call's result (emulated); elsewhere every RET instruction.
 *   Never a uretprobe: it puts a second, single-stepped breakpoint on the function's first
 *   instruction and a trampoline trap on the return; a RET site is one trap.
 *
 * The socket: from the SSL's read BIO when it is a descriptor BIO (SSL_set_fd; the layout is
 * known per OpenSSL version), else learned from the thread's socket I/O (tls_threads.bpf.h):
 * Node drives TLS through memory BIOs and reads the ciphertext just before SSL_read; curl's
 * own BIO sends and receives inside the call.
 *
 * Bytes a failed or retried call did not move are never emitted: a write is emitted at its
 * result (the buffer is the caller's, still there), a read once its count is known.
 *
 * Java (JSSE) has no native TLS to probe: ztrace's Java agent (probes/java) hands each TLS
 * record's plaintext over with ioctl(-1, ZT_JAVA_TLS_IOCTL, &desc) (bpf/java_tls.h), read here
 * at the sys_enter_ioctl tracepoint (java_tls_handoff) into the same pieces on the same
 * socket, with in-process linking by thread (thread_linking.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/socket_trace.h"
#include "bpf/go_probes.h" /* ZT_GO_TLS_GENERATION_BIT: the TLS stream of a socket */
#include "bpf/java_tls.h"
#include "bpf/openssl_probes.h"
#include "bpf/selection.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/thread_linking.bpf.h"
#include "bpf/tls_threads.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* key: pid_tgid; value: an SSL call between its enter and result sites. Written at enter,
 * deleted at result (LRU: a call whose result site is missed, a tail call, cannot leak). */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 count_ptr; /* size_t * of the byte count, 0: the return value is the count */
	__u64 enter_ns;
	__u32 cookie;    /* ZT_SSL_CALL_WRITE | ZT_SSL_COUNT_IN_RCX | layout */
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

/* key: socket and its generation; value: stream positions of its TLS plaintext by
 * enum zt_direction. Written here; entries of closed sockets age out (LRU). */
struct ssl_stream_key {
	__u32 tgid;
	__s32 fd;
	__u64 generation;
};
struct ssl_stream {
	__u64 bytes[2];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_stream_key);
	__type(value, struct ssl_stream);
} ssl_streams SEC(".maps");

/* key: enum zt_ssl_counter; value: count on this CPU. Read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_SSL_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} ssl_counters SEC(".maps");

/* A piece is assembled here (too big for the stack), then copied into the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zt_data_event);
} ssl_scratch SEC(".maps");

#define WAKEUP_THRESHOLD_BYTES (256 * 1024) /* as socket_trace: batch the reader's wakeups */
#define BIO_TYPE_DESCRIPTOR 0x0100 /* include/openssl/bio.h: socket, fd, and libpq's own */

static __always_inline void count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&ssl_counters, &counter);
	if (c)
		*c += 1;
}

/* The fd of the SSL's read BIO when it is a descriptor BIO, else -1. */
static __always_inline int fd_of_bio(__u64 ssl, __u32 layout)
{
	__u64 method_off, num_off;
	if (layout == ZT_SSL_LAYOUT_1_1_1) {
		method_off = 0x0;
		num_off = 0x30;
	} else if (layout == ZT_SSL_LAYOUT_3_0) {
		method_off = 0x8;
		num_off = 0x38;
	} else {
		return -1;
	}
	__u64 rbio = 0, method = 0;
	__s32 type = 0, num = -1;
	if (bpf_probe_read_user(&rbio, sizeof(rbio), (void *)(ssl + 0x10)) || !rbio ||
	    bpf_probe_read_user(&method, sizeof(method), (void *)(rbio + method_off)) || !method ||
	    bpf_probe_read_user(&type, sizeof(type), (void *)method) ||
	    !(type & BIO_TYPE_DESCRIPTOR) ||
	    bpf_probe_read_user(&num, sizeof(num), (void *)(rbio + num_off)))
		return -1;
	return num;
}

/* `fd` is now the socket of the TLS object `key` (from its thread's I/O): remembered. */
static __always_inline int learned_fd(const struct ssl_fd_key *key, int fd)
{
	struct zt_conn_key conn_key = { .tgid = key->tgid, .fd = fd };
	struct zt_conn_info *conn = bpf_map_lookup_elem(&conns, &conn_key);
	struct ssl_fd value = { .fd = fd, .generation = conn ? conn->generation : 0 };
	bpf_map_update_elem(&ssl_fds, key, &value, BPF_ANY);
	count(ZT_SSL_FD_FROM_THREAD);
	return fd;
}

/* The socket of `call`'s SSL object, -1 when not known (yet). */
static __always_inline int fd_of_call(__u64 pid_tgid, const struct ssl_call *call)
{
	__u32 tgid = pid_tgid >> 32;
	int fd = fd_of_bio(call->ssl, call->cookie >> ZT_SSL_LAYOUT_SHIFT & 0xff);
	if (fd >= 0) {
		count(ZT_SSL_FD_FROM_BIO);
		return fd;
	}
	struct ssl_fd_key key = { .tgid = tgid, .ssl = call->ssl };
	struct tls_thread *thread = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	bool write = call->cookie & ZT_SSL_CALL_WRITE;
	/* The freshest evidence: a write's ciphertext sent inside the call, a read's received
	 * inside or just before it. It also corrects an SSL address reused by another connection.
	 * Taken, so a later call on another object learns nothing from it. */
	int seen = -1;
	if (thread && write) {
		seen = thread->last_write_fd;
		thread->last_write_fd = -1;
	} else if (thread) {
		seen = thread->last_read_fd;
		thread->last_read_fd = -1;
	}
	if (seen >= 0) {
		return learned_fd(&key, seen);
	}
	struct ssl_fd *known = bpf_map_lookup_elem(&ssl_fds, &key);
	if (known) {
		count(ZT_SSL_FD_REMEMBERED);
		return known->fd;
	}
	/* A write on an SSL object never seen: Node's client writes its first request in the
	 * same cycle that read the server's last handshake flight, before any SSL_read on the
	 * object, so the socket the thread read last is its own. (A server's objects are known
	 * from the handshake's reads before they write.) */
	if (write && thread && thread->last_read_fd >= 0)
		return learned_fd(&key, thread->last_read_fd);
	if (write && thread)
		thread->pending_ssl = call->ssl; /* socket_trace fills ssl_fds at the next write */
	return -1;
}

/* Emits `len` plaintext bytes at user address `buf` as pieces on the socket `key`. */
static __always_inline void emit_plaintext(const struct zt_conn_key *key,
					   const struct zt_conn_info *conn,
					   struct ssl_stream *stream, __u32 tid, __u8 direction,
					   __u64 buf, __u64 len, __u64 captured, __u64 timestamp_ns,
					   __u8 syscall, const struct zt_trace_context *trace)
{
	__u64 stream_offset = stream->bytes[direction & 1];
	stream->bytes[direction & 1] += len;
	__u32 zero = 0;
	struct zt_data_event *e = bpf_map_lookup_elem(&ssl_scratch, &zero);
	if (!e)
		return;
	e->trace = *trace; /* in-process linking; all zero: the ids are made in userspace */
	e->type = ZT_EVENT_DATA;
	e->direction = direction;
	e->role = conn->role;
	e->syscall = syscall;
	e->pid = key->tgid;
	e->tid = tid;
	e->fd = key->fd;
	e->generation = conn->generation | ZT_GO_TLS_GENERATION_BIT;
	e->timestamp_ns = timestamp_ns;
	e->stream_offset = stream_offset;
	e->call_bytes = len;
	e->tuple = conn->tuple;
	for (__u32 i = 0; i < ZT_SSL_MAX_PIECES; i++) {
		__u64 at = (__u64)i * ZT_PIECE_BYTES;
		if (at >= captured)
			break;
		__u32 n = captured - at > ZT_PIECE_BYTES ? ZT_PIECE_BYTES : captured - at;
		bool last = at + n >= captured || i == ZT_SSL_MAX_PIECES - 1;
		n &= (2 * ZT_PIECE_BYTES - 1);
		if (n > ZT_PIECE_BYTES)
			n = ZT_PIECE_BYTES;
		if (bpf_probe_read_user(e->data, n, (void *)(buf + at)))
			n = 0;
		e->captured_bytes = n;
		e->call_offset = at;
		e->flags = last ? ZT_DATA_LAST_PIECE : 0;
		__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_THRESHOLD_BYTES ?
				      BPF_RB_FORCE_WAKEUP :
				      BPF_RB_NO_WAKEUP;
		if (bpf_ringbuf_output(&events, e, offsetof(struct zt_data_event, data) + n, flags)) {
			count(ZT_SSL_RINGBUF_FULL);
			break;
		}
		count(ZT_SSL_EVENTS);
		if (last)
			break;
		e->trace.origin = ZT_CTX_NONE; /* the context rides on the first piece only */
	}
}

/* In-process linking by thread of TLS plaintext, as http1_linking.bpf.h links socket data
 * (thread_linking.bpf.h): a request head read on a server connection becomes the thread's
 * current request, a request head written on a client connection gets it as parent, a
 * response start answers it. For OpenSSL calls and the Java agent's hand-off alike: both
 * run on the thread that reads and writes (nginx, Python, curl, Node's event loop,
 * SSLSocket, HttpsServer), and the thread rules (multiplexing, stale, Go) apply as for
 * plaintext. `trace` stays zero for other data. Heads split across calls are not linked. */
static __always_inline void link_by_thread(struct zt_conn_info *conn, __u64 pid_tgid, int fd,
					   bool write, __u64 buf, __u64 len,
					   struct zt_trace_context *trace)
{
	__u32 first4 = 0;
	if (len < 5 || bpf_probe_read_user(&first4, 4, (void *)buf))
		return;
	if (write && conn->role == ZT_ROLE_SERVER) {
		if (first4 == METHOD4('H', 'T', 'T', 'P') &&
		    conn->responses_started < conn->requests_read)
			conn->responses_started += 1;
		return;
	}
	if (!is_request_start(first4))
		return;
	if (write) {
		__u8 origin;
		const struct served_request *parent = parent_by_thread(pid_tgid, &origin);
		if (parent) {
			__builtin_memcpy(trace->trace_id, parent->trace_id, 16);
			__builtin_memcpy(trace->parent_span_id, parent->span_id, 8);
			trace->trace_flags = parent->trace_flags;
		} else {
			random_bytes(trace->trace_id, 16);
			trace->trace_flags = new_trace_flags(trace->trace_id);
		}
		random_bytes(trace->span_id, 8);
		trace->origin = origin;
		return;
	}
	if (conn->role != ZT_ROLE_SERVER)
		return;
	__u32 zero = 0;
	struct zt_data_event *e = bpf_map_lookup_elem(&ssl_scratch, &zero);
	if (!e)
		return;
	__u32 head = len < traceparent_scan_bytes ? len : traceparent_scan_bytes;
	if (head > ZT_PIECE_BYTES)
		head = ZT_PIECE_BYTES;
	if (bpf_probe_read_user(e->data, head, (void *)buf))
		head = 0;
	/* A traceparent beyond `head` is still found by userspace, which corrects the trace. */
	server_context_of_head(e->data, head, trace, NULL);
	/* A thread that reads a second request while its first is unanswered multiplexes. */
	struct served_request *previous = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (previous && !(previous->fd == fd && previous->generation == conn->generation) &&
	    request_unanswered(pid_tgid >> 32, previous->fd, previous->generation,
			       previous->request_number)) {
		__u8 one = 1;
		bpf_map_update_elem(&multiplexing_threads, &pid_tgid, &one, BPF_ANY);
	}
	conn->requests_read += 1;
	struct served_request served = { .fd = fd,
					 .generation = conn->generation,
					 .request_number = conn->requests_read,
					 .trace_flags = trace->trace_flags };
	__builtin_memcpy(served.trace_id, trace->trace_id, 16);
	__builtin_memcpy(served.span_id, trace->span_id, 8);
	bpf_map_update_elem(&thread_requests, &pid_tgid, &served, BPF_ANY);
}

/* `len` plaintext bytes moved on socket `fd` (`captured` of them at user address `buf`):
 * pieces of the socket's TLS stream, when it is a traced socket. */
static __always_inline void plaintext_on_socket(__u64 pid_tgid, int fd, bool write, __u64 buf,
						__u64 len, __u64 captured, __u64 timestamp_ns,
						__u8 syscall)
{
	if (fd < 0) {
		count(ZT_SSL_FD_UNKNOWN);
		return;
	}
	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct zt_conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn || !conn->is_traced_socket) {
		count(ZT_SSL_NOT_A_SOCKET);
		return;
	}
	struct ssl_stream_key stream_key = { .tgid = key.tgid, .fd = fd,
					     .generation = conn->generation };
	struct ssl_stream *stream = bpf_map_lookup_elem(&ssl_streams, &stream_key);
	if (!stream) {
		/* Two threads may start a connection's two directions at once: keep the first. */
		struct ssl_stream fresh = {};
		bpf_map_update_elem(&ssl_streams, &stream_key, &fresh, BPF_NOEXIST);
		stream = bpf_map_lookup_elem(&ssl_streams, &stream_key);
		if (!stream)
			return;
	}
	struct zt_trace_context trace = {};
	link_by_thread(conn, pid_tgid, fd, write, buf, captured, &trace);
	emit_plaintext(&key, conn, stream, (__u32)pid_tgid, write ? ZT_DIR_EGRESS : ZT_DIR_INGRESS,
		       buf, len, captured, timestamp_ns, syscall, &trace);
}

/* SSL_read(SSL *s, void *buf, int num), SSL_read_ex(s, buf, size_t num, size_t *readbytes),
 * SSL_write(s, const void *buf, int num), SSL_write_ex(s, buf, num, size_t *written), or the
 * call into ssl_{read,write}_internal(s, buf, size_t num, size_t *count) inside the first
 * two: RDI = s, RSI = buf, RCX = the count's address where the cookie says so. */
SEC("uprobe")
int ssl_call_enter(struct pt_regs *ctx)
{
	if (capture_paused)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!process_selected(pid_tgid))
		return 0;
	__u32 cookie = bpf_get_attach_cookie(ctx);
	struct ssl_call call = { .ssl = ctx->di,
				 .buf = ctx->si,
				 .count_ptr = cookie & ZT_SSL_COUNT_IN_RCX ? ctx->cx : 0,
				 .enter_ns = bpf_ktime_get_ns(),
				 .cookie = cookie };
	bpf_map_update_elem(&ssl_calls, &pid_tgid, &call, BPF_ANY);
	/* From now on socket_trace notes this thread's socket I/O for fd_of_call; a write
	 * counts from the call's start. */
	struct tls_thread *thread = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (thread) {
		thread->last_write_fd = -1;
	} else {
		struct tls_thread fresh = { .last_read_fd = -1, .last_write_fd = -1 };
		bpf_map_update_elem(&tls_threads, &pid_tgid, &fresh, BPF_NOEXIST);
	}
	return 0;
}

/* Where the call's result is in RAX: 1 or the byte count on success (by the cookie of its
 * enter site), <= 0 on failure or when the call must be retried. */
SEC("uprobe")
int ssl_call_result(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ssl_call *stashed = bpf_map_lookup_elem(&ssl_calls, &pid_tgid);
	if (!stashed) {
		if (process_selected(pid_tgid) && !capture_paused)
			count(ZT_SSL_RESULT_UNMATCHED);
		return 0;
	}
	struct ssl_call call = *stashed;
	bpf_map_delete_elem(&ssl_calls, &pid_tgid);
	/* Even a call that moved no plaintext (a handshake step) teaches the SSL's socket. */
	int fd = fd_of_call(pid_tgid, &call);
	__s32 ret = (__s32)ctx->ax;
	if (ret <= 0)
		return 0;
	__u64 n = (__u64)ret;
	if (call.count_ptr && bpf_probe_read_user(&n, sizeof(n), (void *)call.count_ptr))
		return 0;
	if (n == 0 || n > (1ULL << 31))
		return 0;
	bool write = call.cookie & ZT_SSL_CALL_WRITE;
	/* Egress at the call's start, ingress when the bytes reached the process (as socket_trace) */
	plaintext_on_socket(pid_tgid, fd, write, call.buf, n, n,
			    write ? call.enter_ns : bpf_ktime_get_ns(), ZT_SYS_OPENSSL);
	return 0;
}

/* ---- Java (JSSE): plaintext handed over by ztrace's Java agent (bpf/java_tls.h) ---- */

/* The tls_thread entry of the calling thread, created at its first hand-off: from then on
 * socket_trace notes the thread's socket I/O (tls_threads.bpf.h). */
static __always_inline struct tls_thread *java_thread(__u64 pid_tgid)
{
	struct tls_thread *thread = bpf_map_lookup_elem(&tls_threads, &pid_tgid);
	if (thread)
		return thread;
	struct tls_thread fresh = { .last_read_fd = -1, .last_write_fd = -1 };
	bpf_map_update_elem(&tls_threads, &pid_tgid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&tls_threads, &pid_tgid);
}

/* The socket of an SSLEngine, -1 when not known (yet). An unwrap follows the read of its
 * ciphertext on the same thread (HttpsServer; HttpClient when its reader runs inline); a
 * wrap comes before the write of its ciphertext, so it uses what earlier calls of the engine
 * learned, else names the engine for the thread's next socket write. */
static __always_inline int java_engine_fd(__u64 pid_tgid, __u64 engine, bool write)
{
	__u32 tgid = pid_tgid >> 32;
	struct tls_thread *thread = java_thread(pid_tgid);
	struct ssl_fd_key key = { .tgid = tgid, .ssl = engine };
	if (!write && thread && thread->last_read_fd >= 0) {
		int seen = thread->last_read_fd;
		thread->last_read_fd = -1; /* taken: another engine's unwrap learns nothing from it */
		return learned_fd(&key, seen);
	}
	struct ssl_fd *known = bpf_map_lookup_elem(&ssl_fds, &key);
	if (known) {
		count(ZT_SSL_FD_REMEMBERED);
		return known->fd;
	}
	if (write && thread)
		thread->pending_ssl = engine; /* socket_trace fills ssl_fds at the next write */
	return -1;
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int java_tls_handoff(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[1] != ZT_JAVA_TLS_IOCTL || capture_paused)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!process_selected(pid_tgid))
		return 0;
	struct zt_java_tls desc = {};
	if (bpf_probe_read_user(&desc, sizeof(desc), (void *)ctx->args[2]) ||
	    desc.magic != ZT_JAVA_TLS_MAGIC || desc.captured > desc.total ||
	    desc.captured > ZT_JAVA_TLS_CAPTURE_BYTES)
		return 0;
	bool write = desc.flags & ZT_JAVA_TLS_WRITE;
	int fd = desc.engine ? java_engine_fd(pid_tgid, desc.engine, write) : desc.fd;
	if (desc.total == 0)
		return 0; /* a handshake step: it taught the engine's socket */
	/* The hand-off comes before the write's encryption and after the read's decryption:
	 * its time is the plaintext's, as socket_trace's syscall entry and exit times. */
	plaintext_on_socket(pid_tgid, fd, write, desc.buf, desc.total, desc.captured,
			    bpf_ktime_get_ns(), ZT_SYS_JAVA_TLS);
	return 0;
}
