package ztrace.jsse;

import static net.bytebuddy.matcher.ElementMatchers.named;
import static net.bytebuddy.matcher.ElementMatchers.none;
import static net.bytebuddy.matcher.ElementMatchers.takesArguments;

import java.io.File;
import java.io.InputStream;
import java.lang.instrument.Instrumentation;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.jar.JarFile;
import net.bytebuddy.agent.builder.AgentBuilder;
import net.bytebuddy.asm.Advice;
import net.bytebuddy.dynamic.loading.ClassInjector;

/**
 * ztrace's Java agent, loaded at run time through the HotSpot attach mechanism
 * (probes/java/jvm_attach.cc): weaves advice into the JDK's TLS classes so that their
 * plaintext reaches ztrace (ztrace.jsse.boot.Handoff).
 *
 * Arguments: "boot=<jar>,native=<so>" (files ztrace staged in the JVM's own /tmp).
 * Off in a JVM started with -Dztrace.java=off or with ZTRACE_JAVA=off in its environment.
 * Once installed, the JVM's system property ztrace.jsse is "on".
 * It never throws into the attach: failures are reported as one line on the JVM's stderr.
 */
public final class Agent {
  private Agent() {}

  public static void agentmain(String args, Instrumentation inst) {
    try {
      if (disabled()) {
        System.err.println("ztrace: Java TLS agent off in this JVM (ztrace.java / ZTRACE_JAVA)");
        return;
      }
      // A second ztrace (or a restarted one) finds the advice in place: it keeps working.
      if ("on".equals(System.getProperty("ztrace.jsse")))
        return;
      String boot = argument(args, "boot");
      String lib = argument(args, "native");
      if (boot == null || lib == null)
        return;
      Class<?> handoff = defineInBootLoader(inst, boot);
      if (!(Boolean) handoff.getMethod("start", String.class).invoke(null, lib)) {
        System.err.println("ztrace: Java TLS agent off: cannot load " + lib);
        return;
      }
      install(inst, handoff);
      System.setProperty("ztrace.jsse", "on"); // what a test (or an operator) can look at
    } catch (Throwable t) {
      System.err.println("ztrace: Java TLS agent off: " + t);
    }
  }

  private static final String HANDOFF = "ztrace.jsse.boot.Handoff";

  // The hand-off class in the bootstrap class loader, where the advice inlined into java.base
  // finds it. Defined directly (Byte Buddy's Unsafe injector, opened through Instrumentation)
  // when possible: appending a jar to the boot class path instead makes HotSpot print a
  // warning on the application's stderr and turns class data sharing off for its classes.
  private static Class<?> defineInBootLoader(Instrumentation inst, String bootJar)
      throws Exception {
    try {
      return Class.forName(HANDOFF, true, null); // a previous load of this agent
    } catch (ClassNotFoundException absent) {
      // defined below
    }
    try (JarFile jar = new JarFile(new File(bootJar))) {
      ClassInjector.UsingUnsafe.Factory unsafe = ClassInjector.UsingUnsafe.Factory.resolve(inst);
      if (unsafe.isAvailable()) {
        byte[] bytes;
        try (InputStream in =
                 jar.getInputStream(jar.getEntry(HANDOFF.replace('.', '/') + ".class"))) {
          bytes = in.readAllBytes();
        }
        unsafe.make(null).injectRaw(Collections.singletonMap(HANDOFF, bytes));
        return Class.forName(HANDOFF, true, null);
      }
    } catch (Throwable t) {
      // fall back to the boot class path
    }
    inst.appendToBootstrapClassLoaderSearch(new JarFile(new File(bootJar)));
    return Class.forName(HANDOFF, true, null);
  }

  static boolean disabled() {
    return "off".equalsIgnoreCase(System.getProperty("ztrace.java", ""))
        || "off".equalsIgnoreCase(System.getenv("ZTRACE_JAVA"));
  }

  private static String argument(String args, String key) {
    if (args == null)
      return null;
    for (String part : args.split(",")) {
      if (part.startsWith(key + "="))
        return part.substring(key.length() + 1);
    }
    return null;
  }

  // Retransforms the four classes (already loaded or not) without changing their shape.
  private static void install(Instrumentation inst, Class<?> handoff) {
    new AgentBuilder.Default()
        .disableClassFormatChanges()
        .with(AgentBuilder.RedefinitionStrategy.RETRANSFORMATION)
        .with(AgentBuilder.InitializationStrategy.NoOp.INSTANCE)
        .with(AgentBuilder.TypeStrategy.Default.REDEFINE)
        .ignore(none())
        .assureReadEdgeTo(inst, handoff)
        .type(named("sun.security.ssl.SSLSocketImpl$AppInputStream"))
        .transform(
            (builder, type, loader, module, domain)
                -> builder.visit(
                    Advice.to(SocketRead.class)
                        .on(named("read").and(takesArguments(byte[].class, int.class, int.class)))))
        .type(named("sun.security.ssl.SSLSocketImpl$AppOutputStream"))
        .transform((builder, type, loader, module, domain)
                       -> builder.visit(Advice.to(SocketWrite.class)
                                            .on(named("write").and(takesArguments(
                                                byte[].class, int.class, int.class)))))
        .type(named("sun.security.ssl.SSLEngineImpl"))
        .transform(
            (builder, type, loader, module, domain)
                -> builder
                       .visit(
                           Advice.to(EngineWrap.class)
                               .on(named("wrap").and(takesArguments(ByteBuffer[].class, int.class,
                                   int.class, ByteBuffer[].class, int.class, int.class))))
                       .visit(
                           Advice.to(EngineUnwrap.class)
                               .on(named("unwrap").and(takesArguments(ByteBuffer[].class, int.class,
                                   int.class, ByteBuffer[].class, int.class, int.class)))))
        .installOn(inst);
  }
}
