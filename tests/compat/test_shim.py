"""The `java` shim (shim/java) with a stand-in for synod: what kazoo's harness
writes becomes the right `synod server` command, signals reach it, and any
other java invocation still reaches the real java."""
import os
import signal
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_DIR = os.path.join(HERE, "shim")

FAKE_SYNOD = textwrap.dedent("""\
    #!%s
    import signal, sys, time
    print("ARGS", *sys.argv[1:], flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    time.sleep(60)
    """) % sys.executable


def harness_like_cfg(tmp_path, myid=2):
    """The zoo.cfg kazoo/testing/common.py writes for node `myid` of 3."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text(str(myid))
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(textwrap.dedent(f"""
        tickTime=2000
        dataDir={data}
        clientPort=20010
        secureClientPort=20014
        maxClientCnxns=0
        admin.serverPort=20013
        4lw.commands.whitelist=*
        reconfigEnabled=true
        initLimit=4
        syncLimit=2
        server.2=localhost:20012:20011:participant
        server.1=localhost:20002:20001:participant
        server.3=localhost:20022:20021:participant
        peerType=participant
        """))
    return cfg


def run_shim(tmp_path, argv):
    fake = tmp_path / "fake-synod"
    fake.write_text(FAKE_SYNOD)
    fake.chmod(0o755)
    env = dict(os.environ, PATH=SHIM_DIR + os.pathsep + os.environ["PATH"], SYNOD_BIN=str(fake))
    return subprocess.Popen(["java"] + argv, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop_and_args(tmp_path, p):
    """Waits for the stand-in synod to print its arguments, stops it as the
    harness does, and returns them."""
    log = tmp_path / "zookeeper.log"
    deadline = time.time() + 30
    while time.time() < deadline and "ARGS" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)          # what the harness's stop() does
    assert p.wait(10) == 0                 # synod's own exit status, not a wrapper's
    return log.read_text().split("ARGS", 1)[1].split()


def test_quorum_peer_main_becomes_synod_server(tmp_path):
    cfg = harness_like_cfg(tmp_path)
    p = run_shim(tmp_path, ["-cp", "x", "-Dreadonlymode.enabled=true",
                            "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:abc=",
                            "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)])
    args = stop_and_args(tmp_path, p)
    assert args[:3] == ["server", "--config", str(tmp_path / "synod.toml")]
    assert "--init" in args                # a fresh dataDir, as the harness makes one
    flags = " ".join(args)
    for f in ["--node-id 2", f"--data-dir {tmp_path}/data/synod", "--peer-listen 127.0.0.1:20012",
              "--client-listen 127.0.0.1:20011", "--zk-listen 127.0.0.1:20010",
              "--member 1=127.0.0.1:20002,127.0.0.1:20001", "--member 2=127.0.0.1:20012,127.0.0.1:20011",
              "--member 3=127.0.0.1:20022,127.0.0.1:20021"]:
        assert f in flags
    toml = (tmp_path / "synod.toml").read_text()
    assert 'zk_listen = "127.0.0.1:20010"' in toml and "node_id = 2" in toml
    assert "[zk]\ntick_ms = 2000\nsuper_digest = \"super:abc=\"" in toml
    assert "max_client_cnxns = 0" in toml
    assert 'four_letter_words = ["*"]' in toml
    assert "read_only_mode = true" in toml  # -Dreadonlymode.enabled=true
    assert "\nreconfig_enabled = true\n" in toml   # ZooKeeper's reconfigEnabled=true


def test_read_only_mode_follows_the_readonlymode_property(tmp_path):
    import tomllib
    for flag, expected in [("-Dreadonlymode.enabled=true", True),
                           ("-Dreadonlymode.enabled=false", None), (None, None)]:
        case = tmp_path / str(expected) / (flag or "none").lstrip("-")
        case.mkdir(parents=True)
        argv = ["-cp", "x"] + ([flag] if flag else []) + [
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(harness_like_cfg(case))]
        p = run_shim(case, argv)
        log = case / "zookeeper.log"
        deadline = time.time() + 10
        while time.time() < deadline and "ARGS" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        # The file is valid TOML, and the knob is there only when asked for.
        zk = tomllib.loads((case / "synod.toml").read_text())["zk"]
        assert zk.get("read_only_mode") == expected, (flag, zk)


def test_key_store_becomes_client_tls(tmp_path):
    """secureClientPort with a JKS key store (what the harness writes for
    TestSSLClient) becomes secure_zk_listen and PEM files of the same
    certificate and key."""
    store = tmp_path / "keystore.jks"
    subprocess.run(["keytool", "-genkeypair", "-keystore", str(store), "-storetype", "JKS",
                    "-storepass", "apassword", "-keypass", "apassword", "-alias", "server cert",
                    "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=localhost", "-validity", "1"],
                   check=True, capture_output=True)
    cfg = harness_like_cfg(tmp_path)
    with open(cfg, "a") as f:
        f.write(f"ssl.keyStore.location={store}\nssl.keyStore.password=apassword\n")
    stop_and_args(tmp_path, run_shim(tmp_path, ["org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                                str(cfg)]))
    toml = (tmp_path / "synod.toml").read_text()
    top = toml.split("[", 1)[0]            # top-level keys come before the first table
    assert 'secure_zk_listen = "127.0.0.1:20014"' in top
    cert, key = tmp_path / "synod-tls" / "cert.pem", tmp_path / "synod-tls" / "key.pem"
    assert f'[client_tls]\ncert = "{cert}"\nkey = "{key}"' in toml
    subject = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject"],
                             check=True, capture_output=True, text=True).stdout
    assert "CN = localhost" in subject or "CN=localhost" in subject
    public = [subprocess.run(cmd, check=True, capture_output=True, text=True).stdout for cmd in (
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
        ["openssl", "pkey", "-in", str(key), "-pubout"])]
    assert public[0] == public[1]          # the key is the certificate's
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_jaas_digest_users_become_sasl_users(tmp_path):
    """The harness's JAAS file for SASL digest (ZOOKEEPER_JAAS_AUTH=digest)
    becomes [zk] sasl_users; a superUser among them, sasl_super_user."""
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(textwrap.dedent("""
        Client { org.apache.zookeeper.server.auth.DigestLoginModule required
            username="nobody" password="x"; };
        Server {
            org.apache.zookeeper.server.auth.DigestLoginModule required
            user_super="super_secret"
            user_jaasuser="jaas_password";
        };"""))
    cfg = harness_like_cfg(tmp_path)
    stop_and_args(tmp_path, run_shim(tmp_path, [
        f"-Djava.security.auth.login.config={jaas}", "-Dzookeeper.superUser=super",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)]))
    toml = (tmp_path / "synod.toml").read_text()
    zk = toml.split("[zk]", 1)[1].split("\n[", 1)[0]
    assert 'sasl_users = { "jaasuser" = "jaas_password", "super" = "super_secret" }' in zk
    assert 'sasl_super_user = "super"' in zk
    assert "nobody" not in toml             # the Client section is the client's


def test_reconfig_stays_disabled_without_reconfig_enabled(tmp_path):
    cfg = harness_like_cfg(tmp_path)
    cfg.write_text(cfg.read_text().replace("reconfigEnabled=true\n", ""))
    p = run_shim(tmp_path, ["org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)])
    log = tmp_path / "zookeeper.log"
    deadline = time.time() + 10
    while time.time() < deadline and "ARGS" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert "reconfig_enabled" not in (tmp_path / "synod.toml").read_text()


def test_sigkill_reaches_synod(tmp_path):
    p = run_shim(tmp_path, ["org.apache.zookeeper.server.quorum.QuorumPeerMain",
                            str(harness_like_cfg(tmp_path))])
    time.sleep(0.5)
    p.kill()
    assert p.wait(10) == -signal.SIGKILL


def test_other_java_invocations_reach_real_java(tmp_path):
    p = run_shim(tmp_path, ["-version"])
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and "version" in out
