"""Starts a server of the benchmarks (Parley or the Node.js baseline) on a
port the system chooses and reads the port from its log: a port picked free
here could be taken by another process before the server binds it, and that
process would then answer in its place. Only a restart names its port again.
Used by bench/run and bench/smoke."""
import re, subprocess, threading

LISTENING = re.compile(r"(?:Parley is listening|parley-baseline-node listening on).*?127\.0\.0\.1:(\d+)")


def start_server(cmd, cwd, env, log_path, port=0, timeout=20):
    """Runs `cmd` with PARLEY_BIND (Parley) and PORT (the baseline) set to
    127.0.0.1:`port`; returns (process, port) once it logged its address. Its
    output goes on to log_path."""
    env = {**env, "PARLEY_BIND": f"127.0.0.1:{port}", "PORT": str(port),
           "PARLEY_LOG": env.get("PARLEY_LOG", "warn") + ",parley=info", "PARLEY_LOG_FORMAT": "text", "NO_COLOR": "1"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found, bound = threading.Event(), []

    def read():
        # To the end of the log, so the server never blocks on a full pipe.
        with open(log_path, "a") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                m = LISTENING.search(line)
                if m and not bound:
                    bound.append(int(m.group(1)))
                    found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout) or not bound:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{cmd[0]} did not log its address; its log: {log_path}")
    if port and bound[0] != port:
        proc.kill()
        raise RuntimeError(f"{cmd[0]} was asked for port {port} and bound {bound[0]}")
    return proc, bound[0]
