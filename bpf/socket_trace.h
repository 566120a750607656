/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/socket_trace.bpf.c and userspace: event layouts, map keys and values.
 * Fixed-width types, explicit padding, the first byte of every event is its type.
 * Userspace copies events out of the ring buffer and switches on `type`.
 */
#pragma once

#ifdef __BPF__
/* vmlinux.h provides __u8..__u64 */
#else
#include <linux/types.h>
#endif

/* Bytes of one data event's payload. A syscall moving more bytes is split into several
 * pieces of up to this size; at most `max_pieces_per_call` pieces are captured per call and
 * the rest is reported as a gap (its length is known, its bytes are not). */
#define ZT_PIECE_BYTES 4096
/* Hard upper bound of pieces per call (64 KiB), the runtime setting may lower it. */
#define ZT_MAX_PIECES_PER_CALL 16
/* Iovecs walked per readv/writev/sendmsg/recvmsg (UIO_MAXIOV; 32 on kernels without
 * bpf_loop); bytes in further iovecs become a gap. */
#define ZT_MAX_IOVECS 1024

enum zt_event_type {
	ZT_EVENT_DATA = 1,
	ZT_EVENT_CONN_OPEN = 2,
	ZT_EVENT_CONN_CLOSE = 3,
	ZT_EVENT_PROC_EXEC = 4,
	ZT_EVENT_PROC_EXIT = 5,
	ZT_EVENT_H2_STREAM_CONTEXT = 6,
	ZT_EVENT_FDS_CLOSED = 7,
};

enum zt_direction {
	ZT_DIR_EGRESS = 0,  /* written by the traced process */
	ZT_DIR_INGRESS = 1, /* read by the traced process */
};

enum zt_role {
	ZT_ROLE_UNKNOWN = 0, /* socket already open when first seen */
	ZT_ROLE_CLIENT = 1,  /* connect() */
	ZT_ROLE_SERVER = 2,  /* accept()/accept4() */
};

enum zt_syscall {
	ZT_SYS_READ = 1,
	ZT_SYS_WRITE,
	ZT_SYS_READV,
	ZT_SYS_WRITEV,
	ZT_SYS_RECVFROM,
	ZT_SYS_SENDTO,
	ZT_SYS_RECVMSG,
	ZT_SYS_SENDMSG,
	ZT_SYS_SENDFILE,
};

/* Counters in the per-CPU `drop_counters` array; userspace sums the CPUs. */
enum zt_drop_reason {
	ZT_DROP_DATA_RINGBUF_FULL = 0,    /* a data piece was lost */
	ZT_DROP_CONTROL_RINGBUF_FULL = 1, /* an open/close/exec/exit event was lost */
	ZT_DROP_INFLIGHT_FULL = 2,        /* syscall arguments could not be stashed */
	ZT_DROP_CONN_UPDATE_FAILED = 3,   /* a socket could not be entered in `conns` */
	ZT_DROP_REASON_COUNT = 4,
};

/* Flags of a data event. */
#define ZT_DATA_LAST_PIECE 0x1 /* last piece of the call: call_bytes - (call_offset +
				* captured_bytes) bytes followed uncaptured */

/* Addresses in network byte order; IPv4 uses the first 4 bytes. Ports in host order. */
struct zt_tuple {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 local_port;
	__u16 remote_port;
	__u16 pad;
};

/* Key of `conns`: a file descriptor of a process. */
struct zt_conn_key {
	__u32 tgid;
	__s32 fd;
};

/* Value of `conns`: what the fd is. Non-TCP fds are cached too (is_traced_socket = 0) so the
 * fd table walk happens once per fd, not once per syscall. */
struct zt_conn_info {
	__u64 generation; /* kernel ns when first seen: distinguishes fd reuse */
	/* What the fd referred to when cached (struct file * and its inode *): an fd that refers to
	 * something else now was closed without close() (close_range, io_uring) and reused. */
	__u64 file;
	__u64 inode;
	__u64 bytes_sent; /* stream positions: let userspace see lost pieces as gaps */
	__u64 bytes_received;
	__u64 sock;             /* address of the struct sock: its TCP write_seq is read */
	__u64 h1_message_left;  /* h1_framing TRACKING: egress bytes until the next message
				 * boundary (0: the next write starts a message); in a chunked
				 * body, of the chunk's data (its size so far, in its size line) */
	struct zt_tuple tuple;
	__u32 requests_read;      /* server side: request heads read so far; a Kafka client
				   * connection: Fetch responses read (kafka_request.bpf.h) */
	__u32 responses_started;  /* server side: requests whose answer began to be written; a
				   * Kafka client connection: Fetch responses read before its
				   * last write */
	__u8 role;             /* enum zt_role */
	__u8 is_traced_socket; /* TCP over IPv4/IPv6 and selected by the port rules */
	__u8 head_pending;     /* server side: a request head continues in the next read */
	__u8 head_prefix_len;  /* server side: bytes of a method a read ended with (Go's */
	__u8 head_prefix[4];   /* background read takes the next request's first byte) */
	__u8 h2_state;         /* enum zt_h2_state: HTTP/2 injection on this client connection,
				* or an HTTP/2 server connection */
	__u8 h1_framing;       /* enum zt_h1_framing: HTTP/1 egress message boundaries */
	__u8 h1_chunk_state;   /* h1_framing TRACKING: where in a chunked request body
				* (http1_framing.bpf.h), 0: in none */
	__u8 h1_chunk_digits;  /* hex digits of the chunk size line so far */
	__u32 h1_next_seq;     /* h1_framing TRACKING: the socket's write_seq after the last
				* write seen: bytes written by any other way show up in it */
	__u32 h2_frame_left;   /* egress bytes still to come before the next frame header */
	__u32 h2_last_stream;  /* highest client stream id seen opening in the egress */
	__u32 h1_writer;       /* h1_framing TRACKING: the thread in a write on it, 0: none */
	__u32 kafka_fetch_correlation; /* the last Fetch written's correlation id (big-endian) */
	__u8 kafka_fetch_pending;      /* its response's first read is still to come */
	__u8 pad_kafka[3];
};

/* What the kernel knows of the message boundaries of an HTTP/1 client connection's egress
 * (bpf/http1_framing.bpf.h): a traceparent goes only into a request that starts at one. */
enum zt_h1_framing {
	ZT_H1_UNKNOWN = 0,  /* never known: not a connection whose connect() the kernel saw */
	ZT_H1_TRACKING = 1, /* known: h1_message_left bytes to the next boundary */
	ZT_H1_STOPPED = 2,  /* lost for good (counted by why): a body may hold anything */
};

/* What the kernel knows of a connection's HTTP/2: a client connection's egress framing
 * (traceparent injection, bpf/h2_inject.bpf.h), decided at its first write; a server
 * connection's preface, decided at its first read. Every state but TRACKING is final. */
enum zt_h2_state {
	ZT_H2_UNDECIDED = 0, /* nothing seen yet that decides */
	ZT_H2_TRACKING = 1,  /* preface seen, frame boundaries known: new streams are injected */
	ZT_H2_NOT_H2 = 2,    /* the egress did not start with the HTTP/2 preface */
	ZT_H2_OWN_CONTEXT = 3, /* the application sends its own traceparent: never inject */
	ZT_H2_STOPPED = 4,     /* frame boundaries or header blocks no longer known: never inject */
	ZT_H2_SERVER = 5,      /* a server connection whose ingress began with the preface */
};

/* How a message's trace context came about (see the trace context section of the BPF
 * program). Userspace counts these for the link-accuracy metrics. */
enum zt_context_origin {
	ZT_CTX_NONE = 0,             /* not the start of a request */
	ZT_CTX_SERVER_NEW = 1,       /* server request without (valid) traceparent: new trace */
	ZT_CTX_SERVER_HEADER = 2,    /* server request continuing the incoming traceparent */
	ZT_CTX_SERVER_BAD_HEADER = 3,/* traceparent present but malformed: ignored, new trace */
	ZT_CTX_CLIENT_THREAD = 4,    /* client request made while the thread serves a request */
	ZT_CTX_CLIENT_ROOT = 5,      /* client request outside any served request */
	ZT_CTX_CLIENT_AMBIGUOUS = 6, /* the thread multiplexes requests (event loop): no parent */
	ZT_CTX_CLIENT_UNTRUSTED = 7, /* threads do not map to requests, or not checked yet */
	ZT_CTX_CLIENT_STALE = 8,     /* the thread's request was already answered: no parent */
	ZT_CTX_CLIENT_LINE_MATCH = 9,/* forwarded request: same request line as exactly one
				      * unanswered request the process serves (proxies) */
	ZT_CTX_CLIENT_GOROUTINE = 10,/* Go: made by the goroutine serving a request, or handed by
				      * it to the one writing the request (net/http probes) */
	ZT_CTX_MESSAGE_RECEIVE = 11, /* a Kafka Fetch response read: a receive's new context,
				      * the parent of the calls its records cause */
	ZT_CTX_CLIENT_MESSAGE = 12,  /* client request made while the thread processes a message
				      * it polled from librdkafka (rdkafka_probes.bpf.c) */
	ZT_CTX_ORIGIN_COUNT = 13,
};

#define ZT_TRACE_FLAG_SAMPLED 0x01

/* Trace context of the message a data event starts (origin != ZT_CTX_NONE). Ids are made in
 * the kernel so that what a later injection writes and what userspace reports agree. */
struct zt_trace_context {
	__u8 trace_id[16];
	__u8 span_id[8];        /* the SERVER or CLIENT span of this message */
	__u8 parent_span_id[8]; /* all zero: none */
	__u8 trace_flags;       /* W3C trace-flags */
	__u8 origin;            /* enum zt_context_origin */
	__u8 flags;             /* ZT_CTX_FLAG_* */
	__u8 pad[5];
};

/* zt_trace_context.flags: the request began in the connection's previous call in this
 * direction (a head split across reads), not in the call that carries the context. */
#define ZT_CTX_FLAG_BEGAN_IN_PREVIOUS_CALL 0x01

/* Key of `pending_injections`: a client connection as both the syscall hooks (from the socket)
 * and sk_msg (from its message metadata) can name it. Addresses in network order, ports in
 * host order. */
struct zt_inject_key {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 family;
	__u16 local_port;
	__u16 remote_port;
	__u16 pad;
};

/* A traceparent header to insert into the next message sent on a client connection. */
struct zt_pending_injection {
	struct zt_trace_context trace;
	__u32 insert_offset; /* just after the request line's LF */
	__u32 first4;        /* the request's first bytes, checked again by sk_msg */
};

/* Counters in the per-CPU `inject_counters` array. */
enum zt_inject_outcome {
	ZT_INJECT_DONE = 0,
	ZT_INJECT_SKIPPED_MISMATCH = 1, /* the message did not start with the expected request */
	ZT_INJECT_FAILED = 2,           /* push/pull of message data failed: sent unchanged */
	ZT_INJECT_HAD_HEADER = 3,       /* the application sent its own traceparent */
	ZT_INJECT_UNCONSUMED = 4,       /* the send never reached sk_msg (socket not in the map) */
	/* HTTP/2 streams not injected, and why */
	ZT_INJECT_H2_TOO_MANY = 5,       /* more new streams in one write than ZT_H2_MAX_INSERTIONS */
	ZT_INJECT_H2_NO_END_HEADERS = 6, /* header block continues in CONTINUATION frames */
	ZT_INJECT_H2_TOO_BIG = 7,        /* the frame would exceed the default maximum frame size,
					  * or its block the kernel's scan window */
	ZT_INJECT_H2_JOINED_MIDWAY = 8,  /* a connection opened before the agent sends HTTP/2
					  * frames (counted once; client or server) */
	ZT_INJECT_H2_LOST_FRAMING = 9,   /* frame boundaries lost (partial write, too many iovecs
					  * or frames, a header or block split across writes) */
	/* HTTP/1 writes that start like a request and are not injected (each write) */
	ZT_INJECT_H1_IN_MESSAGE = 10,      /* inside the message before (a body, the rest of a
					    * head): never a new request */
	ZT_INJECT_H1_UNKNOWN_BOUNDARY = 11,/* on a client connection whose boundaries are not known
					    * (one of the reasons below, counted once) */
	/* HTTP/1 client connections whose message boundaries are not known (once each), by why */
	ZT_INJECT_H1_JOINED_MIDWAY = 12,   /* opened before the agent (adopted): never known */
	ZT_INJECT_H1_HEAD_SPLIT = 13,      /* a request head not whole in its write's first buffer */
	ZT_INJECT_H1_HEAD_TOO_LONG = 14,   /* a request head longer than the bytes scanned */
	ZT_INJECT_H1_CHUNKED = 15,         /* Transfer-Encoding other than "chunked" alone (or in
					    * HTTP/1.0), or a chunked body not followed to its end
					    * (a chunk line the kernel cannot read or take for sure,
					    * over 128 buffers or 2048 steps in one write) */
	ZT_INJECT_H1_BAD_LENGTH = 16,      /* Content-Length repeated, not a plain number, or
					    * next to Transfer-Encoding */
	ZT_INJECT_H1_UNCLEAR_HEAD = 17,    /* a bare CR or LF, obs-fold, whitespace before the
					    * colon of a framing field */
	ZT_INJECT_H1_UPGRADE = 18,         /* CONNECT or Upgrade: what follows may not be HTTP/1 */
	ZT_INJECT_H1_NOT_HTTP1 = 19,       /* at a boundary, bytes that are no HTTP/1.x request
					    * line (another protocol, TLS, sendfile) */
	ZT_INJECT_H1_PIPELINED = 20,       /* a write that goes on past its message's end */
	ZT_INJECT_H1_PARTIAL_HEAD = 21,    /* a write that sent only part of a request head */
	ZT_INJECT_H1_UNSEEN_BYTES = 22,    /* the socket's stream moved by bytes the hooks did not
					    * see (another fd or process, io_uring, splice) */
	ZT_INJECT_H1_CONCURRENT_WRITES = 23, /* two threads writing the connection at once */
	ZT_INJECT_OUTCOME_COUNT = 24,
};

/* HTTP/2 header field `traceparent: 00-<trace>-<span>-<flags>` as an HPACK literal without
 * indexing with a new name (RFC 7541 6.2.2): 0x00, name length 11, the name, value length 55,
 * the value. It never touches either side's dynamic table. */
#define ZT_H2_TRACEPARENT_FIELD_BYTES 69
#define ZT_H2_MAX_INSERTIONS 64 /* per write; a power of 2 */
#define ZT_H2_FRAME_HEADER_BYTES 9

/* One traceparent field to insert at the end of a HEADERS frame's header block. Offsets are
 * from the first byte of the write. */
struct zt_h2_insertion {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	__u8 frame_header[ZT_H2_FRAME_HEADER_BYTES]; /* as written: sk_msg checks it is still there */
	__u8 pad[6];
	__u32 frame_offset;  /* the HEADERS frame's first byte */
	__u32 insert_offset; /* end of its header block (before any padding) */
};

/* Value of `pending_h2_injections`: the insertions of one write, in increasing offsets. */
struct zt_h2_pending {
	__u32 count;
	__u32 pad;
	struct zt_h2_insertion at[ZT_H2_MAX_INSERTIONS];
};

/* The context of a client stream whose HEADERS the kernel queued a traceparent for: emitted
 * before the write's data event, so the stream's CLIENT span carries what was injected. */
struct zt_h2_stream_event {
	__u8 type; /* ZT_EVENT_H2_STREAM_CONTEXT */
	__u8 pad[3];
	__u32 pid;
	__s32 fd;
	__u32 stream_id;
	__u64 generation;
	struct zt_trace_context trace;
};

#define ZT_TRACEPARENT_HEADER_BYTES 70 /* "traceparent: " + 55 + "\r\n" */

struct zt_data_event {
	__u8 type; /* ZT_EVENT_DATA */
	__u8 direction;
	__u8 role;
	__u8 syscall; /* enum zt_syscall */
	__u8 flags;
	__u8 pad[3];
	__u32 pid; /* tgid */
	__u32 tid;
	__s32 fd;
	__u32 captured_bytes; /* bytes in data[] */
	__u64 generation;
	/* egress: syscall entry; ingress: syscall return (when the bytes reached the process) */
	__u64 timestamp_ns;
	__u64 stream_offset; /* position of this call's first byte in the direction's stream */
	__u64 call_bytes;    /* bytes the syscall moved (its return value) */
	__u32 call_offset;   /* position of data[0] within the call */
	__u32 pad2;
	struct zt_tuple tuple;
	struct zt_trace_context trace;
	__u8 data[ZT_PIECE_BYTES];
};

struct zt_conn_event {
	__u8 type; /* ZT_EVENT_CONN_OPEN or ZT_EVENT_CONN_CLOSE */
	__u8 role;
	__u8 pad[2];
	__u32 pid;
	__u32 tid;
	__s32 fd;
	__u64 generation;
	__u64 timestamp_ns;
	__u64 bytes_sent;
	__u64 bytes_received;
	struct zt_tuple tuple;
};

/* close_range(2) closed fds [first_fd, last_fd] of a process: its connections there end. */
struct zt_fds_closed_event {
	__u8 type; /* ZT_EVENT_FDS_CLOSED */
	__u8 pad[3];
	__u32 pid;
	__u32 tid;
	__u32 first_fd;
	__u32 last_fd;
	__u32 pad2;
	__u64 timestamp_ns;
};

#define ZT_EXEC_FILENAME_BYTES 256
#define ZT_EXEC_ARGV_BYTES 1024

/* Exec events carry what identifies the new image, because a short-lived process can be gone
 * before userspace reads /proc (the ring's wakeup may wait for the next timer tick). */
struct zt_proc_event {
	__u8 type; /* ZT_EVENT_PROC_EXEC or ZT_EVENT_PROC_EXIT */
	__u8 pad[3];
	__u32 pid;
	__u32 ppid;
	__u16 filename_bytes; /* exec only: bytes in filename[], without the NUL */
	__u16 argv_bytes;     /* exec only: bytes in argv[] (NUL-separated, maybe cut) */
	__u64 timestamp_ns;
	__u64 start_boottime_ns; /* task start, as /proc/PID/stat field 22 (in ns) */
	char comm[16];
	char filename[ZT_EXEC_FILENAME_BYTES]; /* as passed to execve() */
	char argv[ZT_EXEC_ARGV_BYTES];
};
