/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/rdkafka_probes.bpf.c and userspace (probes/kafka): a librdkafka produce call
 * made by a thread that serves a request. librdkafka writes the Produce request later, from its
 * own broker thread, so the thread rules cannot link the send; this event carries the request
 * and enough of the message (topic, key, value prefixes and lengths) for userspace to find the
 * message again in the Produce request it is written in.
 */
#pragma once

#include "bpf/socket_trace.h"

/* zt_kafka_produce_event.type and zt_kafka_message_event.type (after socket_trace.h's
 * zt_event_type values). */
#define ZT_EVENT_KAFKA_PRODUCE_CALL 32
#define ZT_EVENT_KAFKA_MESSAGE_POLLED 33

#define ZT_RDKAFKA_TOPIC_BYTES 64
#define ZT_RDKAFKA_PREFIX_BYTES 64 /* of the key and of the value */
#define ZT_RDKAFKA_ABSENT (~0ULL)  /* key_bytes / value_bytes of a NULL key or value */

/* Attach cookie: which produce API the site is the entry of (librdkafka's rdkafka.h). */
enum zt_rdkafka_call {
	ZT_RDKAFKA_PRODUCEV = 1,  /* rd_kafka_producev(rk, vtype, args..., RD_KAFKA_V_END) */
	ZT_RDKAFKA_PRODUCEVA = 2, /* rd_kafka_produceva(rk, const rd_kafka_vu_t *, cnt) */
	ZT_RDKAFKA_PRODUCE = 3,   /* rd_kafka_produce(rkt, partition, flags, payload, len, key,
				   * keylen, opaque): a topic handle, no name */
	ZT_SARAMA_SEND_MESSAGE = 4, /* Go sarama's (*syncProducer).SendMessage(msg), from
				     * bpf/go_probes.bpf.c: the goroutine's served request */
};

struct zt_kafka_produce_event {
	__u8 type; /* ZT_EVENT_KAFKA_PRODUCE_CALL */
	__u8 call; /* enum zt_rdkafka_call */
	__u8 trace_flags;
	__u8 pad;
	__u32 pid; /* tgid */
	__u32 tid;
	__u16 topic_bytes;  /* in topic[]; 0: the call named a topic handle */
	__u16 key_captured; /* bytes in key[] */
	__u16 value_captured;
	__u16 pad2;
	__u32 pad3;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC, as data events */
	__u64 key_bytes;    /* the key's length, ZT_RDKAFKA_ABSENT: no key */
	__u64 value_bytes;  /* the value's length, ZT_RDKAFKA_ABSENT: no value */
	__u8 trace_id[16];  /* of the request the thread serves */
	__u8 parent_span_id[8];
	char topic[ZT_RDKAFKA_TOPIC_BYTES];
	__u8 key[ZT_RDKAFKA_PREFIX_BYTES];
	__u8 value[ZT_RDKAFKA_PREFIX_BYTES];
};

/*
 * A consumer's poll (rd_kafka_consumer_poll, rd_kafka_consume, rd_kafka_consume_queue) gave the
 * application thread a message: the kernel made a new context for its processing, which the
 * thread's client calls take as their parent until its next poll (thread_linking.bpf.h), and
 * userspace builds the `process {topic}` span with it.
 */
struct zt_kafka_message_event {
	__u8 type; /* ZT_EVENT_KAFKA_MESSAGE_POLLED */
	__u8 trace_flags;
	__u16 topic_bytes; /* in topic[]; 0: not read */
	__u32 pid;         /* tgid */
	__u32 tid;
	__s32 partition;
	__s64 offset;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC, when the poll returned */
	__u8 trace_id[16];  /* the processing's new context */
	__u8 span_id[8];
	char topic[ZT_RDKAFKA_TOPIC_BYTES];
};

/* The poll-return site's attach cookie: the register that holds the returned
 * rd_kafka_message_t * (bits 0-7), and how the topic's name is reached from the message's
 * rd_kafka_topic_t * (librdkafka's rd_kafka_topic_name: `rkt->rkt_topic->str`): the offset of
 * rkt_topic (bits 8-23) and of str in it (bits 24-39). */
enum zt_rdkafka_reg {
	ZT_RDKAFKA_REG_RAX = 0,
	ZT_RDKAFKA_REG_RBX = 1,
	ZT_RDKAFKA_REG_RBP = 2,
	ZT_RDKAFKA_REG_R12 = 3,
	ZT_RDKAFKA_REG_R13 = 4,
	ZT_RDKAFKA_REG_R14 = 5,
	ZT_RDKAFKA_REG_R15 = 6,
};

static inline __u64 zt_rdkafka_poll_cookie(__u32 reg, __u32 topic_field, __u32 str_field)
{
	return (__u64)(reg & 0xff) | (__u64)(topic_field & 0xffff) << 8 |
	       (__u64)(str_field & 0xffff) << 24;
}

/* Counters in the per-CPU `rdkafka_counters` array. */
enum zt_rdkafka_counter {
	ZT_RDKAFKA_CALLS = 0,        /* produce calls by selected processes */
	ZT_RDKAFKA_NO_PARENT = 1,    /* ... by a thread serving no (linkable) request */
	ZT_RDKAFKA_UNPARSED = 2,     /* ... whose arguments were not understood */
	ZT_RDKAFKA_EMITTED = 3,      /* events sent */
	ZT_RDKAFKA_RINGBUF_FULL = 4, /* events lost */
	ZT_RDKAFKA_MESSAGES_POLLED = 5,  /* polls that gave a selected thread a message */
	ZT_RDKAFKA_MESSAGES_UNREAD = 6,  /* ... whose rd_kafka_message_t could not be read */
	ZT_RDKAFKA_COUNTER_COUNT = 7,
};
