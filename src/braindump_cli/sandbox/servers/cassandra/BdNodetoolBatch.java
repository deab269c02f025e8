import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.cassandra.tools.*;

public class BdNodetoolBatch {
    public static void main(String[] a) throws Exception {
        INodeProbeFactory probes = new INodeProbeFactory() {
            public NodeProbe create(String h, int p) throws IOException { return new NodeProbe(h, p); }
            public NodeProbe create(String h, int p, String u, String pw) throws IOException {
                return new NodeProbe(h, p, u, pw);
            }
        };
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            PrintStream ps = new PrintStream(buf, true, "UTF-8");
            int rc = new NodeTool(probes, new Output(ps, ps)).execute(line.split("\t", -1));
            ps.flush();
            stdout.print(buf.toString("UTF-8"));
            stdout.println("@@BD-END rc=" + rc);
        }
    }
}
