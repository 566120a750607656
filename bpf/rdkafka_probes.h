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

/* zt_kafka_produce_event.type (after socket_trace.h's zt_event_type values). */
#define ZT_EVENT_KAFKA_PRODUCE_CALL 32

#define ZT_RDKAFKA_TOPIC_BYTES 64
#define ZT_RDKAFKA_PREFIX_BYTES 64 /* of the key and of the value */
#define ZT_RDKAFKA_ABSENT (~0ULL)  /* key_bytes / value_bytes of a NULL key or value */

/* Attach cookie: which produce API the site is the entry of (librdkafka's rdkafka.h). */
enum zt_rdkafka_call {
	ZT_RDKAFKA_PRODUCEV = 1,  /* rd_kafka_producev(rk, vtype, args..., RD_KAFKA_V_END) */
	ZT_RDKAFKA_PRODUCEVA = 2, /* rd_kafka_produceva(rk, const rd_kafka_vu_t *, cnt) */
	ZT_RDKAFKA_PRODUCE = 3,   /* rd_kafka_produce(rkt, partition, flags, payload, len, key,
				   * keylen, opaque): a topic handle, no name */
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

/* Counters in the per-CPU `rdkafka_counters` array. */
enum zt_rdkafka_counter {
	ZT_RDKAFKA_CALLS = 0,        /* produce calls by selected processes */
	ZT_RDKAFKA_NO_PARENT = 1,    /* ... by a thread serving no (linkable) request */
	ZT_RDKAFKA_UNPARSED = 2,     /* ... whose arguments were not understood */
	ZT_RDKAFKA_EMITTED = 3,      /* events sent */
	ZT_RDKAFKA_RINGBUF_FULL = 4, /* events lost */
	ZT_RDKAFKA_COUNTER_COUNT = 5,
};
