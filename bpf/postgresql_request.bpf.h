/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PostgreSQL requests in the kernel: which client writes start one, so that a query gets
 * its parent by the in-process rules (on_client_request) as an HTTP/1 request does. The
 * parser in userspace (userspace/protocols/postgresql) decides what the bytes are: a context
 * no exchange claims is dropped there.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* First 4 bytes (little-endian word) of a frontend message that opens a request: Query,
 * Parse, Bind (of a statement prepared earlier) or FunctionCall, then the big-endian length's
 * top byte, 0 below 16 MiB. No HTTP/1 method has a 0 second byte. */
static __always_inline bool postgresql_request_start(__u32 first4)
{
	__u8 type = first4 & 0xff, length_top = (first4 >> 8) & 0xff;
	return length_top == 0 && (type == 'Q' || type == 'P' || type == 'B' || type == 'F');
}
