// SPDX-License-Identifier: GPL-2.0
/*
 * W3C traceparent injection into outgoing plaintext HTTP/1.x requests, without touching the
 * process (no bpf_probe_write_user: lockdown forbids it). sockops puts the client connections of
 * traced processes into a sockhash; sk_msg runs on each message they send and, when the syscall hooks of
 * socket_trace.bpf.c queued a header for this connection, inserts it right after the request
 * line. The application's bytes are never changed, only one header line is added.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_trace.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

const volatile __u8 filter_by_port = 0; /* only connections to a port in traced_ports */

/* key: client connection; value: unused. Written by sockops when a connection is established;
 * the kernel removes a socket when it closes. sk_msg runs only for sockets in here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct zt_inject_key);
	__type(value, __u64);
} client_sockets SEC(".maps");

static __always_inline void key_from_sock_ops(const struct bpf_sock_ops *ops,
					      struct zt_inject_key *key)
{
	key->family = ops->family;
	key->local_port = ops->local_port;               /* host order */
	key->remote_port = bpf_ntohl(ops->remote_port);  /* network order, upper 16 bits */
	if (ops->family == AF_INET) {
		__builtin_memcpy(key->local_addr, &ops->local_ip4, 4);
		__builtin_memcpy(key->remote_addr, &ops->remote_ip4, 4);
	} else {
		__u32 local[4] = { ops->local_ip6[0], ops->local_ip6[1], ops->local_ip6[2],
				   ops->local_ip6[3] };
		__u32 remote[4] = { ops->remote_ip6[0], ops->remote_ip6[1], ops->remote_ip6[2],
				    ops->remote_ip6[3] };
		__builtin_memcpy(key->local_addr, local, 16);
		__builtin_memcpy(key->remote_addr, remote, 16);
	}
}

static __always_inline void key_from_msg(const struct sk_msg_md *msg, struct zt_inject_key *key)
{
	key->family = msg->family;
	key->local_port = msg->local_port;                     /* host order */
	key->remote_port = bpf_ntohl(msg->remote_port); /* network order, upper 16 bits */
	if (msg->family == AF_INET) {
		__u32 local = msg->local_ip4, remote = msg->remote_ip4;
		__builtin_memcpy(key->local_addr, &local, 4);
		__builtin_memcpy(key->remote_addr, &remote, 4);
	} else {
		__u32 local[4] = { msg->local_ip6[0], msg->local_ip6[1], msg->local_ip6[2],
				   msg->local_ip6[3] };
		__u32 remote[4] = { msg->remote_ip6[0], msg->remote_ip6[1], msg->remote_ip6[2],
				    msg->remote_ip6[3] };
		__builtin_memcpy(key->local_addr, local, 16);
		__builtin_memcpy(key->remote_addr, remote, 16);
	}
}

SEC("sockops")
int track_client_sockets(struct bpf_sock_ops *ops)
{
	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	/* Only sockets a traced process connected (socket_trace.bpf.c marked them). */
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return 1;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 1;
	__u64 sk_addr = (__u64)tp;
	if (!bpf_map_lookup_elem(&injectable_sockets, &sk_addr))
		return 1;
	bpf_map_delete_elem(&injectable_sockets, &sk_addr);
	struct zt_inject_key key = {};
	key_from_sock_ops(ops, &key);
	if (filter_by_port) {
		__u16 remote = key.remote_port, local = key.local_port;
		if (!bpf_map_lookup_elem(&traced_ports, &remote) &&
		    !bpf_map_lookup_elem(&traced_ports, &local))
			return 1;
	}
	bpf_sock_hash_update(ops, &client_sockets, &key, BPF_NOEXIST);
	return 1;
}

static __always_inline void hex_bytes(char *dst, const __u8 *src, int n)
{
	const char digits[] = "0123456789abcdef";
	for (int i = 0; i < n; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
}

/* ---- HTTP/2: a traceparent field at the end of HEADERS frames' header blocks ---- */

/* The HPACK field (RFC 7541 6.2.2, literal without indexing, new name). */
static __always_inline void h2_field(char *field, const struct zt_h2_insertion *ins)
{
	field[0] = 0x00;
	field[1] = 11;
	__builtin_memcpy(field + 2, "traceparent", 11);
	field[13] = 55;
	char *value = field + 14; /* 00-<trace id>-<span id>-<flags> (W3C Trace Context 3.2) */
	__builtin_memcpy(value, "00-", 3);
	hex_bytes(value + 3, ins->trace_id, 16);
	value[35] = '-';
	hex_bytes(value + 36, ins->span_id, 8);
	value[52] = '-';
	hex_bytes(value + 53, &ins->trace_flags, 1);
}

/* Are the 9 bytes at `offset` the frame header the syscall hook saw there? */
static __always_inline bool h2_frame_header_at(struct sk_msg_md *msg, __u32 offset,
					       const __u8 *expected)
{
	if (bpf_msg_pull_data(msg, offset, offset + ZT_H2_FRAME_HEADER_BYTES, 0))
		return false;
	__u8 *data = msg->data, *end = msg->data_end;
	if (data + ZT_H2_FRAME_HEADER_BYTES > end)
		return false;
	return __builtin_memcmp(data, expected, ZT_H2_FRAME_HEADER_BYTES) == 0;
}

/* Writes the 24-bit frame length (RFC 9113 4.1) of the frame at `offset`. */
static __always_inline bool h2_set_frame_length(struct sk_msg_md *msg, __u32 offset,
						__u32 length)
{
	if (bpf_msg_pull_data(msg, offset, offset + 3, 0))
		return false;
	__u8 *data = msg->data, *end = msg->data_end;
	if (data + 3 > end)
		return false;
	data[0] = length >> 16;
	data[1] = length >> 8;
	data[2] = length;
	return true;
}

static __always_inline __u32 h2_frame_length(const __u8 *header)
{
	return (__u32)header[0] << 16 | (__u32)header[1] << 8 | header[2];
}

/* Inserts one field and grows its frame; on failure the message is as before. Offsets before
 * the insertion point are not moved by it. */
static __always_inline bool h2_insert(struct sk_msg_md *msg, const struct zt_h2_insertion *ins)
{
	char field[ZT_H2_TRACEPARENT_FIELD_BYTES];
	h2_field(field, ins);
	__u32 at = ins->insert_offset;
	if (bpf_msg_push_data(msg, at, ZT_H2_TRACEPARENT_FIELD_BYTES, 0))
		return false;
	if (bpf_msg_pull_data(msg, at, at + ZT_H2_TRACEPARENT_FIELD_BYTES, 0))
		goto undo;
	__u8 *data = msg->data, *end = msg->data_end;
	if (data + ZT_H2_TRACEPARENT_FIELD_BYTES > end)
		goto undo;
	__builtin_memcpy(data, field, ZT_H2_TRACEPARENT_FIELD_BYTES);
	if (!h2_set_frame_length(msg, ins->frame_offset,
				 h2_frame_length(ins->frame_header) + ZT_H2_TRACEPARENT_FIELD_BYTES))
		goto undo;
	return true;
undo:
	bpf_msg_pop_data(msg, at, ZT_H2_TRACEPARENT_FIELD_BYTES, 0);
	return false;
}

/* Takes a done insertion out again (when a later one in the same message failed). */
static __always_inline void h2_remove(struct sk_msg_md *msg, const struct zt_h2_insertion *ins)
{
	bpf_msg_pop_data(msg, ins->insert_offset, ZT_H2_TRACEPARENT_FIELD_BYTES, 0);
	h2_set_frame_length(msg, ins->frame_offset, h2_frame_length(ins->frame_header));
}

static __always_inline const struct zt_h2_insertion *
h2_insertion(const struct zt_h2_pending *pending, __u32 index)
{
	asm volatile("" : "+r"(index)); /* keep the mask: the verifier needs it */
	return &pending->at[index & (ZT_H2_MAX_INSERTIONS - 1)];
}

/* bpf_loop context of one message's insertions (on the stack, as bpf_loop wants). */
struct h2_apply {
	struct sk_msg_md *msg;
	const struct zt_h2_pending *pending;
	__u32 count;
	__u32 done;      /* insertions made, counted from the last one */
	bool failed;
};

/* bpf_loop callback: is insertion `index` where the syscall hook saw its frame? */
static long h2_check_one(__u32 index, void *arg)
{
	struct h2_apply *a = arg;
	if (index >= a->count)
		return 1;
	const struct zt_h2_insertion *ins = h2_insertion(a->pending, index);
	if (ins->insert_offset > a->msg->size || ins->insert_offset > 0xffffff ||
	    ins->frame_offset + ZT_H2_FRAME_HEADER_BYTES > ins->insert_offset ||
	    !h2_frame_header_at(a->msg, ins->frame_offset, ins->frame_header)) {
		a->failed = true;
		return 1;
	}
	return 0;
}

/* bpf_loop callback: makes the insertions from the last to the first, so that an insertion
 * moves only bytes that no later step looks at. */
static long h2_insert_one(__u32 index, void *arg)
{
	struct h2_apply *a = arg;
	if (index >= a->count)
		return 1;
	if (!h2_insert(a->msg, h2_insertion(a->pending, a->count - 1 - index))) {
		a->failed = true;
		return 1;
	}
	a->done++;
	return 0;
}

/* bpf_loop callback: takes the made insertions out again. */
static long h2_remove_one(__u32 index, void *arg)
{
	struct h2_apply *a = arg;
	if (index >= a->done)
		return 1;
	h2_remove(a->msg, h2_insertion(a->pending, a->count - a->done + index));
	return 0;
}

/* All of the write's insertions, or none: a message that does not hold the frames the syscall
 * hook saw where it saw them (another send, a later piece of a big one) is left alone. */
static __always_inline void h2_inject(struct sk_msg_md *msg, const struct zt_h2_pending *pending)
{
	struct h2_apply a = { .msg = msg, .pending = pending, .count = pending->count };
	if (a.count == 0 || a.count > ZT_H2_MAX_INSERTIONS)
		return;
	bpf_loop(ZT_H2_MAX_INSERTIONS, h2_check_one, &a, 0);
	if (a.failed) {
		count_inject(ZT_INJECT_SKIPPED_MISMATCH);
		return;
	}
	bpf_loop(ZT_H2_MAX_INSERTIONS, h2_insert_one, &a, 0);
	if (a.failed) {
		bpf_loop(ZT_H2_MAX_INSERTIONS, h2_remove_one, &a, 0);
		count_inject(ZT_INJECT_FAILED);
		return;
	}
	count_inject_by(ZT_INJECT_DONE, a.done);
}

static __always_inline bool h2_injected(struct sk_msg_md *msg, const struct zt_inject_key *key)
{
	struct zt_h2_pending *pending = bpf_map_lookup_elem(&pending_h2_injections, key);
	if (!pending)
		return false;
	h2_inject(msg, pending);
	bpf_map_delete_elem(&pending_h2_injections, key);
	return true;
}

SEC("sk_msg")
int inject_traceparent(struct sk_msg_md *msg)
{
	struct zt_inject_key key = {};
	key_from_msg(msg, &key);
	if (h2_injected(msg, &key))
		return SK_PASS;
	struct zt_pending_injection *queued = bpf_map_lookup_elem(&pending_injections, &key);
	if (!queued)
		return SK_PASS;
	struct zt_pending_injection pending = *queued;
	bpf_map_delete_elem(&pending_injections, &key);

	__u32 offset = pending.insert_offset;
	if (offset == 0 || offset > msg->size || offset > 65535) {
		count_inject(ZT_INJECT_SKIPPED_MISMATCH);
		return SK_PASS;
	}
	/* The message must start with the request the syscall hook saw. */
	if (bpf_msg_pull_data(msg, 0, 4, 0)) {
		count_inject(ZT_INJECT_FAILED);
		return SK_PASS;
	}
	__u8 *data = msg->data, *end = msg->data_end;
	if (data + 4 > end) {
		count_inject(ZT_INJECT_FAILED);
		return SK_PASS;
	}
	__u32 first4;
	__builtin_memcpy(&first4, data, 4);
	if (first4 != pending.first4) {
		count_inject(ZT_INJECT_SKIPPED_MISMATCH);
		return SK_PASS;
	}

	/* traceparent: 00-<trace id>-<span id>-<flags>\r\n (W3C Trace Context §3.2) */
	char header[ZT_TRACEPARENT_HEADER_BYTES];
	__builtin_memcpy(header, "traceparent: 00-", 16);
	hex_bytes(header + 16, pending.trace.trace_id, 16);
	header[48] = '-';
	hex_bytes(header + 49, pending.trace.span_id, 8);
	header[65] = '-';
	hex_bytes(header + 66, &pending.trace.trace_flags, 1);
	header[68] = '\r';
	header[69] = '\n';

	if (bpf_msg_push_data(msg, offset, ZT_TRACEPARENT_HEADER_BYTES, 0)) {
		count_inject(ZT_INJECT_FAILED);
		return SK_PASS;
	}
	/* Pushed room that cannot be written is taken out again: the request goes unchanged. */
	if (bpf_msg_pull_data(msg, offset, offset + ZT_TRACEPARENT_HEADER_BYTES, 0)) {
		bpf_msg_pop_data(msg, offset, ZT_TRACEPARENT_HEADER_BYTES, 0);
		count_inject(ZT_INJECT_FAILED);
		return SK_PASS;
	}
	data = msg->data;
	end = msg->data_end;
	if (data + ZT_TRACEPARENT_HEADER_BYTES > end) {
		bpf_msg_pop_data(msg, offset, ZT_TRACEPARENT_HEADER_BYTES, 0);
		count_inject(ZT_INJECT_FAILED);
		return SK_PASS;
	}
	__builtin_memcpy(data, header, ZT_TRACEPARENT_HEADER_BYTES);
	count_inject(ZT_INJECT_DONE);
	return SK_PASS;
}
