// Starts Amazon's DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDBLocal.jar has no option for the listen address and binds every
// interface; this launcher builds the server through the jar's own entry point
// and moves its Jetty connectors to loopback before it starts. Arguments are
// the jar's own (-port, -inMemory, -disableTelemetry, ...).
import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
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
