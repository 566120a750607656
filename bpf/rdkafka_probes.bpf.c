// SPDX-License-Identifier: GPL-2.0
/*
 * librdkafka produce probes (uprobes on librdkafka.so.1's rd_kafka_producev, rd_kafka_produceva
 * and rd_kafka_produce, chosen by probes/kafka): when a thread that serves a request hands a
 * message to librdkafka, the request's context and the message's identity (topic, lengths and
 * prefixes of key and value) go to userspace, which makes the request the parent of the send
 * span of the Produce request librdkafka's broker thread writes later (bpf/rdkafka_probes.h).
 *
 * The sites are the functions' entries: `push %r15` in Debian's 2.0.2 (an instruction the
 * kernel emulates) and `jmp` for rd_kafka_produce. A call by a thread that serves nothing
 * costs the probe and one map lookup.
 *
 * Consumers: librdkafka's broker thread reads the Fetch; the application's thread gets each
 * message from a poll. One site on the return path of the poll (the jcc of the stack check
 * that every return of the internal consume function passes, symbolizer/rdkafka_sites.h)
 * sees the message it returns: a message gets a new context the thread processes it under
 * (thread_linking.bpf.h) until its next poll; a poll that returns none, and
 * rd_kafka_consumer_close, end it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/rdkafka_probes.h"
#include "bpf/selection.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/thread_linking.bpf.h"
#include "bpf/trace_sampling.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* rd_kafka_vtype_t (rdkafka.h): the tags of producev's variadic arguments and of produceva's
 * rd_kafka_vu_t array. */
#define VTYPE_END 0
#define VTYPE_TOPIC 1     /* const char * */
#define VTYPE_RKT 2       /* rd_kafka_topic_t * */
#define VTYPE_PARTITION 3 /* int32_t */
#define VTYPE_VALUE 4     /* void *, size_t */
#define VTYPE_KEY 5       /* const void *, size_t */
#define VTYPE_OPAQUE 6    /* void * */
#define VTYPE_MSGFLAGS 7  /* int */
#define VTYPE_TIMESTAMP 8 /* int64_t */
#define VTYPE_HEADER 9    /* const char *, const void *, ssize_t */
#define VTYPE_HEADERS 10  /* rd_kafka_headers_t * */

/* producev's variadic arguments, one 8-byte slot each (System V x86-64: no floating point
 * argument, so the 5 integer registers after rk, then the stack above the return address). */
#define REGISTER_SLOTS 5
#define SLOTS 64
#define STACK_SLOTS (SLOTS - REGISTER_SLOTS - 1)
#define MAX_VTYPES 32 /* a call names each field once; headers may repeat */
#define MAX_VUS 16    /* produceva entries read */
#define VU_BYTES 72   /* sizeof(rd_kafka_vu_t): int vtype, then a union padded to 64 bytes */

struct message_args {
	__u64 topic; /* const char *, 0: a topic handle */
	__u64 key;
	__u64 key_len;
	__u64 value;
	__u64 value_len;
};

/* producev's argument slots and the walk over them (too big for the stack; bpf_loop's callback
 * finds them here). */
struct vararg_walk {
	__u64 slot[SLOTS];
	struct message_args m;
	__u32 at;     /* slot of the next tag */
	__s32 result; /* 0: walking, 1: RD_KAFKA_V_END reached, -1: not understood */
};

/* key: 0; value: the walk of the current producev call on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vararg_walk);
} rdkafka_scratch SEC(".maps");

/* key: enum zt_rdkafka_counter; value: count on this CPU. Read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_RDKAFKA_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} rdkafka_counters SEC(".maps");

static __always_inline void count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&rdkafka_counters, &counter);
	if (c)
		*c += 1;
}

/* One tagged field of a message; *used: slots it took (0: a tag this code does not know). */
static __always_inline void take_field(struct message_args *m, __u32 vtype, __u64 a, __u64 b,
				       __u32 *used)
{
	switch (vtype) {
	case VTYPE_TOPIC:
		m->topic = a;
		*used = 2;
		return;
	case VTYPE_VALUE:
		m->value = a;
		m->value_len = b;
		*used = 3;
		return;
	case VTYPE_KEY:
		m->key = a;
		m->key_len = b;
		*used = 3;
		return;
	case VTYPE_RKT:
	case VTYPE_PARTITION:
	case VTYPE_OPAQUE:
	case VTYPE_MSGFLAGS:
	case VTYPE_TIMESTAMP:
	case VTYPE_HEADERS:
		*used = 2;
		return;
	case VTYPE_HEADER:
		*used = 4;
		return;
	}
	*used = 0;
}

/* One tag of producev's arguments (bpf_loop callback): 1 stops the walk. */
static long producev_step(__u64 index, void *unused)
{
	__u32 zero = 0;
	struct vararg_walk *w = bpf_map_lookup_elem(&rdkafka_scratch, &zero);
	if (!w)
		return 1;
	__u32 i = w->at;
	if (i > SLOTS - 4) {
		w->result = -1;
		return 1;
	}
	__u32 vtype = (__u32)w->slot[i & (SLOTS - 1)];
	if (vtype == VTYPE_END) {
		w->result = 1;
		return 1;
	}
	__u32 used = 0;
	take_field(&w->m, vtype, w->slot[(i + 1) & (SLOTS - 1)], w->slot[(i + 2) & (SLOTS - 1)],
		   &used);
	if (!used) {
		w->result = -1;
		return 1;
	}
	w->at = i + used;
	return 0;
}

static bool producev_args(struct pt_regs *ctx, struct message_args *m)
{
	__u32 zero = 0;
	struct vararg_walk *w = bpf_map_lookup_elem(&rdkafka_scratch, &zero);
	if (!w)
		return false;
	w->slot[0] = PT_REGS_PARM2(ctx);
	w->slot[1] = PT_REGS_PARM3(ctx);
	w->slot[2] = PT_REGS_PARM4(ctx);
	w->slot[3] = PT_REGS_PARM5(ctx);
	w->slot[4] = PT_REGS_PARM6(ctx);
	__u64 stack = PT_REGS_SP(ctx) + 8; /* above the return address */
	if (bpf_probe_read_user(&w->slot[REGISTER_SLOTS], STACK_SLOTS * 8, (void *)stack) &&
	    bpf_probe_read_user(&w->slot[REGISTER_SLOTS], 16 * 8, (void *)stack))
		return false; /* near the top of the stack: fewer slots are there */
	__builtin_memset(&w->m, 0, sizeof(w->m));
	w->at = 0;
	w->result = 0;
	bpf_loop(MAX_VTYPES, producev_step, NULL, 0);
	if (w->result != 1)
		return false;
	*m = w->m;
	return true;
}

static bool produceva_args(struct pt_regs *ctx, struct message_args *m)
{
	__u64 vus = PT_REGS_PARM2(ctx), cnt = PT_REGS_PARM3(ctx);
	for (int n = 0; n < MAX_VUS; n++) {
		if (n >= cnt)
			return true;
		__u64 entry[3] = {}; /* vtype (int, padded), then the union's first two words */
		if (bpf_probe_read_user(entry, sizeof(entry), (void *)(vus + n * VU_BYTES)))
			return false;
		__u32 used = 0;
		take_field(m, (__u32)entry[0], entry[1], entry[2], &used);
		if (!used)
			return false;
	}
	return true; /* the message's fields come first in practice; the rest unread */
}

static bool produce_args(struct pt_regs *ctx, struct message_args *m)
{
	m->value = PT_REGS_PARM4(ctx);
	m->value_len = PT_REGS_PARM5(ctx);
	m->key = PT_REGS_PARM6(ctx);
	return !bpf_probe_read_user(&m->key_len, sizeof(m->key_len),
				    (void *)(PT_REGS_SP(ctx) + 8));
}

static __always_inline __u16 prefix_of(void *dst, __u64 src, __u64 len)
{
	if (!src || len == 0)
		return 0;
	__u32 n = len < ZT_RDKAFKA_PREFIX_BYTES ? len : ZT_RDKAFKA_PREFIX_BYTES;
	if (bpf_probe_read_user(dst, n & (ZT_RDKAFKA_PREFIX_BYTES * 2 - 1), (void *)src))
		return 0;
	return n;
}

SEC("uprobe")
int rdkafka_produce_call(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (capture_paused || !process_selected(pid_tgid))
		return 0;
	count(ZT_RDKAFKA_CALLS);
	__u8 origin = 0;
	struct served_request *served = parent_by_thread(pid_tgid, &origin);
	if (!served) {
		count(ZT_RDKAFKA_NO_PARENT);
		return 0;
	}
	struct served_request parent = *served;
	struct message_args m = {};
	__u64 call = bpf_get_attach_cookie(ctx);
	bool parsed = call == ZT_RDKAFKA_PRODUCEV    ? producev_args(ctx, &m) :
		      call == ZT_RDKAFKA_PRODUCEVA ? produceva_args(ctx, &m) :
						       produce_args(ctx, &m);
	if (!parsed) {
		count(ZT_RDKAFKA_UNPARSED);
		return 0;
	}
	struct zt_kafka_produce_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(ZT_RDKAFKA_RINGBUF_FULL);
		return 0;
	}
	e->type = ZT_EVENT_KAFKA_PRODUCE_CALL;
	e->call = call;
	e->trace_flags = parent.trace_flags;
	e->pad = 0;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->pad2 = 0;
	e->pad3 = 0;
	e->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->trace_id, parent.trace_id, 16);
	__builtin_memcpy(e->parent_span_id, parent.span_id, 8);
	e->topic_bytes = 0;
	if (m.topic) {
		long n = bpf_probe_read_user_str(e->topic, sizeof(e->topic), (void *)m.topic);
		e->topic_bytes = n > 1 ? n - 1 : 0; /* without the NUL; a cut name ends short */
	}
	e->key_bytes = m.key ? m.key_len : ZT_RDKAFKA_ABSENT;
	e->value_bytes = m.value ? m.value_len : ZT_RDKAFKA_ABSENT;
	e->key_captured = prefix_of(e->key, m.key, m.key_len);
	e->value_captured = prefix_of(e->value, m.value, m.value_len);
	bpf_ringbuf_submit(e, ring_flags());
	count(ZT_RDKAFKA_EMITTED);
	return 0;
}

/* rd_kafka_message_t (rdkafka.h, stable since 0.9): err, rkt, partition, payload, len, key,
 * key_len, offset. */
struct rdkafka_message {
	__s32 err;
	__u32 pad;
	__u64 rkt;
	__s32 partition;
	__u32 pad2;
	__u64 payload;
	__u64 len;
	__u64 key;
	__u64 key_len;
	__s64 offset;
};

/* The register the cookie names (enum zt_rdkafka_reg). Every field is loaded at its fixed
 * offset: the verifier refuses a context access at a computed one. */
static __always_inline __u64 register_value(struct pt_regs *ctx, __u32 reg)
{
	__u64 regs[7] = { ctx->ax, ctx->bx, ctx->bp, ctx->r12, ctx->r13, ctx->r14, ctx->r15 };
	if (reg > ZT_RDKAFKA_REG_R15)
		return 0;
	return regs[reg];
}

static __always_inline void end_processing(__u64 pid_tgid)
{
	if (bpf_map_lookup_elem(&thread_messages, &pid_tgid))
		bpf_map_delete_elem(&thread_messages, &pid_tgid);
}

/* The topic's name of message rkt, by the fields the cookie names, into e->topic. */
static __always_inline void read_topic(struct zt_kafka_message_event *e, __u64 rkt, __u64 cookie)
{
	__u64 topic = 0, str = 0;
	e->topic_bytes = 0;
	if (bpf_probe_read_user(&topic, sizeof(topic), (void *)(rkt + ((cookie >> 8) & 0xffff))) ||
	    !topic ||
	    bpf_probe_read_user(&str, sizeof(str), (void *)(topic + ((cookie >> 24) & 0xffff))) ||
	    !str)
		return;
	long n = bpf_probe_read_user_str(e->topic, sizeof(e->topic), (void *)str);
	e->topic_bytes = n > 1 ? n - 1 : 0;
}

SEC("uprobe")
int rdkafka_poll_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (capture_paused || !process_selected(pid_tgid))
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 rkm = register_value(ctx, cookie & 0xff);
	struct rdkafka_message message;
	if (!rkm) { /* a poll that timed out: the previous message is done */
		end_processing(pid_tgid);
		return 0;
	}
	if (bpf_probe_read_user(&message, sizeof(message), (void *)rkm)) {
		end_processing(pid_tgid);
		count(ZT_RDKAFKA_MESSAGES_UNREAD);
		return 0;
	}
	if (message.err) { /* an event (partition EOF, an error), not a message */
		end_processing(pid_tgid);
		return 0;
	}
	count(ZT_RDKAFKA_MESSAGES_POLLED);
	struct processed_message processing = {};
	random_bytes(processing.context.trace_id, 16);
	random_bytes(processing.context.span_id, 8);
	processing.context.trace_flags = new_trace_flags(processing.context.trace_id);
	processing.request_fd = -1;
	struct served_request *served = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (served) {
		processing.request_fd = served->fd;
		processing.request_generation = served->generation;
		processing.request_number = served->request_number;
	}
	/* Only the thread itself writes its entry: overwritten in place, no element allocated. */
	struct processed_message *previous = bpf_map_lookup_elem(&thread_messages, &pid_tgid);
	if (previous)
		*previous = processing;
	else
		bpf_map_update_elem(&thread_messages, &pid_tgid, &processing, BPF_ANY);

	struct zt_kafka_message_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(ZT_RDKAFKA_RINGBUF_FULL);
		return 0;
	}
	e->type = ZT_EVENT_KAFKA_MESSAGE_POLLED;
	e->trace_flags = processing.context.trace_flags;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->partition = message.partition;
	e->offset = message.offset;
	e->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->trace_id, processing.context.trace_id, 16);
	__builtin_memcpy(e->span_id, processing.context.span_id, 8);
	read_topic(e, message.rkt, cookie);
	bpf_ringbuf_submit(e, ring_flags());
	count(ZT_RDKAFKA_EMITTED);
	return 0;
}

/* rd_kafka_consumer_close's entry: the application's poll loop is over. */
SEC("uprobe")
int rdkafka_consumer_close(struct pt_regs *ctx)
{
	end_processing(bpf_get_current_pid_tgid());
	return 0;
}
