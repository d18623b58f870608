// ipx (unjs) as an HTTP image server over a folder, the way a Nuxt/Nitro site runs it: every
// request reads the source file and resizes it with sharp (ipx keeps no result cache).
// usage: node ipx_server.mjs DIR PORT   → prints "ipx listening on PORT" once it accepts.
import http from 'node:http';
import {createIPX, createIPXNodeServer, ipxFSStorage} from 'ipx';

const [dir, port] = [process.argv[2], +process.argv[3]];
const ipx = createIPX({storage: ipxFSStorage({dir})});
const server = http.createServer(createIPXNodeServer(ipx));
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log(`ipx listening on ${server.address().port}`));
