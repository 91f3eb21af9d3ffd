// Starts Amazon's DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDBLocal.jar has no option for the listen address and binds every
// interface; this launcher builds the server through the jar's own entry point
// and moves its Jetty connectors to loopback before it starts. Arguments are
// the jar's own (-port, -inMemory, -disableTelemetry, ...).
//
// It also ends the JVM when its stdin reaches end of file: the Python process that
// started it holds the pipe's only write end, so the engine cannot outlive it, however
// that process ends (local_pipeline/engines.py).
import java.io.IOException;
import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // nothing is ever written: only the end of the pipe matters
                }
            } catch (IOException closed) {
                // the same: the starting process is gone
            }
            Runtime.getRuntime().halt(0); // in memory: nothing to save
        }, "exit-with-parent");
        watchdog.setDaemon(true);
        watchdog.start();
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        for (Connector connector : jetty.getConnectors()) {
            if (!(connector instanceof ServerConnector)) {
                throw new IllegalStateException("unexpected connector " + connector);
            }
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1");
        proxy.join();
    }
}
