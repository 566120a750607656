/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP/2 client preface (RFC 9113 3.4), which opens every HTTP/2 connection with prior
 * knowledge or after ALPN: how the kernel side tells an HTTP/2 connection from its first bytes.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define H2_PREFACE_BYTES 24
#define H2_PREFACE_LINE_BYTES 16 /* "PRI * HTTP/2.0\r\n": no HTTP/1 message starts so */

/* Do the `len` bytes at user address `at` begin with the preface? Its first line is enough,
 * and a server may read the preface in more than one piece. */
static __always_inline bool h2_preface_at(__u64 at, __s64 len)
{
	char line[H2_PREFACE_LINE_BYTES] = {};
	return at && len >= H2_PREFACE_LINE_BYTES &&
	       !bpf_probe_read_user(line, sizeof(line), (void *)at) &&
	       __builtin_memcmp(line, "PRI * HTTP/2.0\r\n", sizeof(line)) == 0;
}
