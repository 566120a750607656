package ztrace.jsse;

import java.nio.ByteBuffer;
import javax.net.ssl.SSLEngineResult;
import net.bytebuddy.asm.Advice;
import ztrace.jsse.boot.Handoff;

/** Inlined into SSLEngineImpl.wrap(ByteBuffer[], int, int, ByteBuffer[], int, int). */
final class EngineWrap {
  private EngineWrap() {}

  @Advice.OnMethodEnter(suppress = Throwable.class)
  static int[] enter(@Advice.Argument(0) ByteBuffer[] src, @Advice.Argument(1) int off,
      @Advice.Argument(2) int len) {
    return Handoff.positions(src, off, len);
  }

  @Advice.OnMethodExit(suppress = Throwable.class, onThrowable = Throwable.class)
  static void exit(@Advice.This Object engine, @Advice.Argument(0) ByteBuffer[] src,
      @Advice.Argument(1) int off, @Advice.Enter int[] before,
      @Advice.Return SSLEngineResult result) {
    if (result != null) {
      Handoff.enginePlaintext(engine, true, src, off, before, result.bytesConsumed());
    }
  }
}
