/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/openssl_probes.bpf.c and userspace (probes/openssl). The OpenSSL probes
 * emit struct zt_data_event (socket_trace.h) into socket_trace's ring buffer, with the TLS
 * generation bit of go_probes.h: the plaintext of SSL_read/SSL_write is one more stream of
 * the socket under the SSL object, parsed like a plaintext socket.
 */
#pragma once

#include "bpf/socket_trace.h"

/* zt_data_event.syscall of TLS plaintext captured from OpenSSL. */
#define ZT_SYS_OPENSSL 65
/* Bytes captured per SSL_read/SSL_write call (whole pieces of ZT_PIECE_BYTES): a TLS record
 * holds at most 16 KiB of plaintext. */
#define ZT_SSL_MAX_PIECES 4

/* Attach cookie of ssl_call_enter: what the call is and where its arguments are. */
#define ZT_SSL_CALL_WRITE 0x1    /* SSL_write/SSL_write_ex; else SSL_read/SSL_read_ex */
#define ZT_SSL_COUNT_IN_RCX 0x2  /* RCX holds the size_t * that receives the byte count
				  * (the _ex functions, and the call into ssl_{read,write}_internal
				  * inside the plain ones); else the count is the return value */
#define ZT_SSL_LAYOUT_SHIFT 8    /* enum zt_ssl_layout in bits 8-15 */

/* Where an SSL object's read BIO and a BIO's fd are, by OpenSSL version (ssl/ssl_local.h
 * struct ssl_st: version, method, rbio; crypto/bio/bio_local.h struct bio_st). */
enum zt_ssl_layout {
	ZT_SSL_LAYOUT_UNKNOWN = 0, /* (3.2+: the SSL is a handle, its BIOs are elsewhere) */
	ZT_SSL_LAYOUT_1_1_1 = 1,   /* rbio at 0x10; bio: method 0x0, num 0x30 */
	ZT_SSL_LAYOUT_3_0 = 2,     /* rbio at 0x10; bio: libctx 0x0, method 0x8, num 0x38 */
};

/* Counters in the per-CPU `ssl_counters` array. */
enum zt_ssl_counter {
	ZT_SSL_EVENTS = 0,           /* plaintext pieces emitted */
	ZT_SSL_RINGBUF_FULL = 1,     /* a plaintext piece was lost */
	ZT_SSL_FD_FROM_BIO = 2,      /* calls whose socket came from the SSL's socket BIO */
	ZT_SSL_FD_FROM_THREAD = 3,   /* ... from the socket the thread read just before */
	ZT_SSL_FD_REMEMBERED = 4,    /* ... from what an earlier call of the SSL object learned */
	ZT_SSL_FD_UNKNOWN = 5,       /* calls with plaintext whose socket is not known (yet) */
	ZT_SSL_NOT_A_SOCKET = 6,     /* the socket found is not a traced TCP socket */
	ZT_SSL_RESULT_UNMATCHED = 7, /* a result site hit without its call's entry */
	ZT_SSL_COUNTER_COUNT = 8,
};
