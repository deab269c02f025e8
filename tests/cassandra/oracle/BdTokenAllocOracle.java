// Test oracle: Cassandra's own token allocator, run offline on rings read from stdin.
//
// Single-file source program (java BdTokenAllocOracle.java, classpath = the cached cassandra-all
// jars). It calls the public TokenAllocation.allocateTokens entry points exactly as
// BootStrapper.allocateTokens does for a joining node: with a replication factor
// (allocate_tokens_for_local_replication_factor, through DatabaseDescriptor's snitch and its local
// DC) or with a keyspace's strategy (allocate_tokens_for_keyspace). The TokenMetadata and snitch are
// set up as Cassandra's OfflineTokenAllocator does. Each join's tokens are then made normal, so a
// sequence of JOIN lines is nodes joining one after another.
//
// stdin:  RING <id>
//         NODE <address> <dc> <rack> <token,token,...>
//         JOIN <address> <dc> <rack> <num_tokens> L <rf>           (local replication factor)
//         JOIN <address> <dc> <rack> <num_tokens> S <rf>           (SimpleStrategy keyspace)
//         JOIN <address> <dc> <rack> <num_tokens> N <dc:rf,dc:rf>  (NetworkTopologyStrategy keyspace)
// stdout: @@ <id> <address> OK <token,token,...>   (sorted)
//         @@ <id> <address> ERR <message>
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.apache.cassandra.config.DatabaseDescriptor;
import org.apache.cassandra.dht.Murmur3Partitioner;
import org.apache.cassandra.dht.Token;
import org.apache.cassandra.dht.tokenallocator.TokenAllocation;
import org.apache.cassandra.locator.AbstractNetworkTopologySnitch;
import org.apache.cassandra.locator.AbstractReplicationStrategy;
import org.apache.cassandra.locator.InetAddressAndPort;
import org.apache.cassandra.locator.NetworkTopologyStrategy;
import org.apache.cassandra.locator.SimpleStrategy;
import org.apache.cassandra.locator.TokenMetadata;

public class BdTokenAllocOracle
{
    static final Map<InetAddressAndPort, String[]> WHERE = new HashMap<>();
    static String localDc;

    static class Snitch extends AbstractNetworkTopologySnitch
    {
        public String getRack(InetAddressAndPort ep) { return WHERE.get(ep)[1]; }
        public String getDatacenter(InetAddressAndPort ep) { return WHERE.get(ep)[0]; }
        @Override public String getLocalDatacenter() { return localDc; }
    }

    static List<Token> tokens(String csv)
    {
        List<Token> out = new ArrayList<>();
        for (String t : csv.split(","))
            out.add(new Murmur3Partitioner.LongToken(Long.parseLong(t)));
        return out;
    }

    static String csv(Collection<Token> tokens)
    {
        StringBuilder sb = new StringBuilder();
        for (Token t : new TreeSet<>(tokens))
            sb.append(sb.length() == 0 ? "" : ",").append(t.getTokenValue());
        return sb.toString();
    }

    static Collection<Token> join(TokenMetadata tm, Snitch snitch, InetAddressAndPort ep, String[] f)
    {
        int numTokens = Integer.parseInt(f[4]);
        localDc = f[2];
        if (f[5].equals("L"))
            return TokenAllocation.allocateTokens(tm, Integer.parseInt(f[6]), ep, numTokens);
        AbstractReplicationStrategy rs;
        if (f[5].equals("S"))
            rs = new SimpleStrategy("bd_oracle", tm, snitch, Map.of("replication_factor", f[6]));
        else
        {
            Map<String, String> options = new HashMap<>();
            for (String pair : f[6].split(","))
                options.put(pair.split(":")[0], pair.split(":")[1]);
            rs = new NetworkTopologyStrategy("bd_oracle", tm, snitch, options);
        }
        return TokenAllocation.allocateTokens(tm, rs, ep, numTokens);
    }

    public static void main(String[] args) throws Exception
    {
        DatabaseDescriptor.clientInitialization();
        Snitch snitch = new Snitch();
        DatabaseDescriptor.setEndpointSnitch(snitch);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        TokenMetadata tm = null;
        String ring = "?";
        String line;
        while ((line = in.readLine()) != null)
        {
            String[] f = line.trim().split(" ");
            if (f[0].equals("RING"))
            {
                ring = f[1];
                WHERE.clear();
                tm = new TokenMetadata(snitch).cloneWithNewPartitioner(Murmur3Partitioner.instance);
                continue;
            }
            if (!f[0].equals("NODE") && !f[0].equals("JOIN"))
                continue;
            InetAddressAndPort ep = InetAddressAndPort.getByName(f[1]);
            WHERE.put(ep, new String[]{ f[2], f[3] });
            if (f[0].equals("NODE"))
            {
                tm.updateNormalTokens(tokens(f[4]), ep);
                continue;
            }
            try
            {
                Collection<Token> got = join(tm, snitch, ep, f);
                tm.updateNormalTokens(got, ep);
                System.out.println("@@ " + ring + " " + f[1] + " OK " + csv(got));
            }
            catch (RuntimeException e)
            {
                System.out.println("@@ " + ring + " " + f[1] + " ERR " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
            System.out.flush();
        }
    }
}
