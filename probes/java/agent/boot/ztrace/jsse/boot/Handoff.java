package ztrace.jsse.boot;

import java.nio.ByteBuffer;

/**
 * What the advice woven into the JDK's TLS classes calls: hands a TLS record's plaintext to
 * ztrace through one ioctl (native, libztrace_jsse.so) that ztrace's eBPF side reads at the
 * syscall tracepoint. Loaded by the bootstrap class loader (the advice runs inside java.base).
 *
 * Nothing here may disturb the application: every method catches Throwable, blocks on nothing,
 * and copies at most one TLS record's worth of bytes (the capture budget).
 */
public final class Handoff {
  /** Bytes handed over per call at most: ztrace keeps 4 pieces of 4 KiB per TLS record. */
  public static final int CAPTURE_BYTES = 16384;

  /** Flags of the descriptor (bpf/openssl_probes.h, struct zt_java_tls). */
  public static final int FLAG_WRITE = 1;

  /** Off until the native library is loaded; off again after repeated failures. */
  public static volatile boolean enabled;

  private static volatile int failures;
  private static final int MAX_FAILURES = 16;

  private Handoff() {}

  /** Loads the native side; false (and the hand-off stays off) when that fails. */
  public static boolean start(String nativeLibrary) {
    try {
      System.load(nativeLibrary);
      enabled = true;
      return true;
    } catch (Throwable t) {
      enabled = false;
      return false;
    }
  }

  public static int failures() {
    return failures;
  }

  private static void failed() {
    if (++failures >= MAX_FAILURES)
      enabled = false;
  }

  /** SSLSocket: `len` plaintext bytes of `b` at `off`, read or about to be written. */
  public static void socketPlaintext(Object sslSocket, boolean write, byte[] b, int off, int len) {
    if (!enabled || len <= 0 || b == null || off < 0 || off + len > b.length)
      return;
    try {
      send(sslSocket, 0L, write ? FLAG_WRITE : 0, b, off, Math.min(len, CAPTURE_BYTES), len);
    } catch (Throwable t) {
      failed();
    }
  }

  /** SSLEngine, at the call's start: the buffers' positions, null when off. */
  public static int[] positions(ByteBuffer[] buffers, int offset, int length) {
    if (!enabled)
      return null;
    try {
      int[] at = new int[length];
      for (int i = 0; i < length; i++) {
        ByteBuffer b = buffers[offset + i];
        at[i] = b == null ? 0 : b.position();
      }
      return at;
    } catch (Throwable t) {
      failed();
      return null;
    }
  }

  /**
   * SSLEngine, at the call's end: the plaintext the call consumed (wrap) or produced (unwrap),
   * each buffer's bytes between its position at the start and its position now.
   */
  public static void enginePlaintext(
      Object engine, boolean write, ByteBuffer[] buffers, int offset, int[] before, int count) {
    // A call that moved no plaintext (a handshake step) still teaches the engine's socket:
    // an unwrap from the read before it, a wrap from the write after it.
    if (!enabled || count < 0 || before == null)
      return;
    try {
      byte[] copy = new byte[Math.min(count, CAPTURE_BYTES)];
      int filled = 0;
      for (int i = 0; i < before.length && filled < copy.length; i++) {
        ByteBuffer b = buffers[offset + i];
        if (b == null || b.position() <= before[i])
          continue;
        int n = Math.min(b.position() - before[i], copy.length - filled);
        ByteBuffer view = b.duplicate();
        view.limit(before[i] + n).position(before[i]);
        view.get(copy, filled, n);
        filled += n;
      }
      // The engine's identity: ztrace learns its socket from the thread's socket I/O.
      long id = System.identityHashCode(engine) & 0xffffffffL | 0x100000000L;
      send(null, id, write ? FLAG_WRITE : 0, copy, 0, filled, count);
    } catch (Throwable t) {
      failed();
    }
  }

  private static native void send(
      Object sslSocket, long engineId, int flags, byte[] data, int offset, int captured, int total);
}
