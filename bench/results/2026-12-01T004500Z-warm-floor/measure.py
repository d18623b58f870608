import sys, os, subprocess, time, socket, glob, re, http.client
sys.path.insert(0, "/work/main/bench")
os.environ.setdefault("IMGD_BIN", "/work/main/build/imgd")
import warm
binary, port = sys.argv[1], int(sys.argv[2])
work = "/tmp/w/floor/cg"; os.makedirs(work, exist_ok=True)
for f in glob.glob(work + "/*"): os.remove(f)
p = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/x.%p.out", binary, str(port)], stderr=subprocess.DEVNULL)
try:
    warm._wait_port(port)
    h = {"If-None-Match": '"abc"'}
    warm.keepalive_requests(port, "/v1/images/x/content?w=400", h, 50)
    warm.control(p.pid, ["-i", "on"], port, "/", h)
    warm.control(p.pid, ["-z"], port, "/", h)
    warm.keepalive_requests(port, "/v1/images/x/content?w=400", h, 2000)
    warm.control(p.pid, ["-d"], port, "/", h)
    (dump,) = glob.glob(work + "/x.*.out.*")
    print("instr/req", warm.callgrind_total(dump) / 2000)
finally:
    p.kill(); p.wait()
