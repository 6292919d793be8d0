//! docker-py, unchanged, against berthd: the Python SDK's container basics.

use berth_tests::Daemon;

#[test]
fn docker_py_runs_and_manages_containers() {
    let (d, _reg) = Daemon::with_busybox();
    let script = r#"
import sys, time, docker
c = docker.DockerClient(base_url=sys.argv[1])
assert c.version()['ApiVersion'] == '1.47'
assert c.containers.run('busybox', 'echo hi from docker-py', remove=True) == b'hi from docker-py\n'
ct = c.containers.run('busybox', ['sh', '-c', 'echo a; sleep 30'], detach=True, name='pyc', labels={'k': 'v'})
assert c.containers.get('pyc').status == 'running'
for _ in range(100):
    if ct.logs() == b'a\n':
        break
    time.sleep(0.05)
assert ct.logs() == b'a\n', ct.logs()
assert [x.name for x in c.containers.list(filters={'label': 'k=v'})] == ['pyc']
ct.stop(timeout=1)
assert ct.wait() == {'Error': None, 'StatusCode': 137}
ct.reload()
assert (ct.status, ct.attrs['State']['ExitCode']) == ('exited', 137)
ct.remove()
try:
    c.containers.run('busybox', 'sh -c "exit 3"', remove=True)
    raise AssertionError('expected ContainerError')
except docker.errors.ContainerError as e:
    assert e.exit_status == 3
try:
    c.containers.get('nosuch')
    raise AssertionError('expected NotFound')
except docker.errors.NotFound:
    pass
print('ok')
"#;
    d.docker_py(script);
}
