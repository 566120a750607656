package ztrace.jsse;

import java.nio.ByteBuffer;
import javax.net.ssl.SSLEngineResult;
import net.bytebuddy.asm.Advice;
import ztrace.jsse.boot.Handoff;

/** Inlined into SSLEngineImpl.unwrap(ByteBuffer[], int, int, ByteBuffer[], int, int). */
final class EngineUnwrap {
  private EngineUnwrap() {}

  @Advice.OnMethodEnter(suppress = Throwable.class)
  static int[] enter(@Advice.Argument(3) ByteBuffer[] dst, @Advice.Argument(4) int off,
      @Advice.Argument(5) int len) {
    return Handoff.positions(dst, off, len);
  }

  @Advice.OnMethodExit(suppress = Throwable.class, onThrowable = Throwable.class)
  static void exit(@Advice.This Object engine, @Advice.Argument(3) ByteBuffer[] dst,
      @Advice.Argument(4) int off, @Advice.Enter int[] before,
      @Advice.Return SSLEngineResult result) {
    // Every call, even one with no plaintext (a handshake step): it teaches ztrace the
    // engine's socket from the ciphertext the thread just read.
    Handoff.enginePlaintext(
        engine, false, dst, off, before, result == null ? 0 : result.bytesProduced());
  }
}
