"""Request ids and the log setup (lbaas/common/request_id.py, lbaas/common/log.py): what
an operator finds in the log for each option, and that bad values fail at start."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from lbaas.common import config, log, request_id


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """log.setup changes the root logger: put it back as the test runner had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in log.QUIET_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(False)


def _conf(tmp_path: Path, text: str = "") -> cfg.ConfigOpts:
    ini = tmp_path / "lbaas.conf"
    ini.write_text("[DEFAULT]\n" + text)
    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    conf(["--config-file", str(ini)], project="lbaas")
    config.check_values(conf)
    return conf


# --- request ids ------------------------------------------------------------------------

def test_generated_ids_have_the_openstack_form() -> None:
    rid = request_id.generate()
    assert rid.startswith("req-") and len(rid) == 40
    assert request_id.is_valid(rid)
    assert rid != request_id.generate()


@pytest.mark.parametrize("value", [
    None, "", "req-", "req-1234", "abc", 42,
    "REQ-2C1F8F9A-1B2C-4D5E-8F90-123456789ABC",
    "req-2c1f8f9a-1b2c-4d5e-8f90-123456789abc\n",
    "req-2c1f8f9a-1b2c-4d5e-8f90-123456789abc x",
    "x req-2c1f8f9a-1b2c-4d5e-8f90-123456789abc",
    "req-2c1f8f9a1b2c4d5e8f90123456789abc",
])
def test_anything_but_req_uuid_is_not_an_id(value: object) -> None:
    assert not request_id.is_valid(value)


def test_bound_sets_and_restores_and_drops_malformed_ids() -> None:
    rid = request_id.generate()
    assert request_id.current() is None
    with request_id.bound(rid):
        assert request_id.current() == rid
        with request_id.bound("req-forged\nline"):
            assert request_id.current() is None
        assert request_id.current() == rid
    assert request_id.current() is None


def test_a_new_thread_starts_without_an_id() -> None:
    seen: list[str | None] = []
    with request_id.bound(request_id.generate()):
        t = threading.Thread(target=lambda: seen.append(request_id.current()))
        t.start()
        t.join()
    assert seen == [None]


# --- log lines --------------------------------------------------------------------------

def _line(formatter: logging.Formatter, rid: str | None, msg: str = "hello %s",
          *args: object, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(request_id.RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("lbaas.test.line")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with request_id.bound(rid):
            logger.info(msg, *args, extra=extra or None)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_text_lines_carry_the_request_id_or_a_dash() -> None:
    rid = request_id.generate()
    line = _line(log.TextFormatter(), rid, "hello %s", "world")
    assert line.endswith(f" INFO lbaas.test.line [{rid}] hello world\n")
    assert _line(log.TextFormatter(), None).endswith(" INFO lbaas.test.line [-] hello %s\n")
    threaded = _line(log.TextFormatter(thread_names=True), rid)
    assert f" lbaas.test.line {threading.current_thread().name} [{rid}] " in threaded


def test_json_lines_are_one_object_each_with_the_request_id() -> None:
    rid = request_id.generate()
    line = _line(log.JsonFormatter(), rid, "two\nlines %d", 2,
                 fields={"status": 201, "path": "/v2.0/lb/pools"})
    assert line.count("\n") == 1
    record = json.loads(line)
    assert record["message"] == "two\nlines 2"
    assert (record["level"], record["logger"], record["request_id"]) == \
        ("INFO", "lbaas.test.line", rid)
    assert (record["status"], record["path"]) == (201, "/v2.0/lb/pools")
    assert record["time"][:2] == "20" and "T" in record["time"]
    assert json.loads(_line(log.JsonFormatter(), None))["request_id"] is None


def test_json_keeps_a_traceback_on_the_same_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(request_id.RequestIdFilter())
    handler.setFormatter(log.JsonFormatter())
    logger = logging.getLogger("lbaas.test.exc")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    (line,) = stream.getvalue().splitlines()
    assert "RuntimeError: boom" in json.loads(line)["exception"]


# --- setup from the options -------------------------------------------------------------

@pytest.mark.usefixtures("restore_root_logger")
def test_no_option_logs_info_to_stderr(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    log.setup(_conf(tmp_path), "lbaas-server")
    logging.getLogger("lbaas.test").info("visible")
    logging.getLogger("lbaas.test").debug("hidden")
    err = capsys.readouterr().err
    assert " INFO lbaas.test [-] visible" in err
    assert "hidden" not in err


@pytest.mark.usefixtures("restore_root_logger")
def test_debug_logs_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log.setup(_conf(tmp_path, "debug = true\n"), "lbaas-server")
    logging.getLogger("lbaas.test").debug("shown")
    assert " DEBUG lbaas.test [-] shown" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_root_logger")
@pytest.mark.parametrize("options, where", [
    ("log_file = {d}/a.log\n", "a.log"),
    ("log_dir = {d}\n", "lbaas-server.log"),
    ("log_dir = {d}\nlog_file = b.log\n", "b.log"),
])
def test_log_file_and_log_dir_as_oslo_log_names_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], options: str, where: str) -> None:
    log.setup(_conf(tmp_path, options.format(d=tmp_path)), "lbaas-server")
    logging.getLogger("lbaas.test").info("to the file")
    assert "to the file" in (tmp_path / where).read_text()
    assert "to the file" not in capsys.readouterr().err


@pytest.mark.usefixtures("restore_root_logger")
def test_use_json_on_the_log_file(tmp_path: Path) -> None:
    log.setup(_conf(tmp_path, f"log_file = {tmp_path}/j.log\nuse_json = true\n"),
              "lbaas-server")
    rid = request_id.generate()
    with request_id.bound(rid):
        logging.getLogger("lbaas.test").warning("careful")
    (line,) = (tmp_path / "j.log").read_text().splitlines()
    record = json.loads(line)
    assert (record["level"], record["message"], record["request_id"]) == \
        ("WARNING", "careful", rid)


@pytest.mark.usefixtures("restore_root_logger")
def test_a_second_setup_replaces_the_first(tmp_path: Path) -> None:
    log.setup(_conf(tmp_path, f"log_file = {tmp_path}/1.log\n"), "lbaas-server")
    log.setup(_conf(tmp_path, f"log_file = {tmp_path}/2.log\n"), "lbaas-server")
    logging.getLogger("lbaas.test").info("once")
    assert "once" not in (tmp_path / "1.log").read_text()
    assert (tmp_path / "2.log").read_text().count("once") == 1


def test_a_log_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(log.LogSetupError) as err:
        log.setup(_conf(tmp_path, f"log_file = {tmp_path}/missing-dir/x.log\n"),
                  "lbaas-server")
    assert str(err.value) == (f"cannot open the log file {tmp_path}/missing-dir/x.log: "
                              "No such file or directory")


@pytest.mark.usefixtures("restore_root_logger")
def test_use_syslog_sends_tagged_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    address = str(tmp_path / "log.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(address)
    sink.settimeout(5)
    monkeypatch.setattr(log, "SYSLOG_ADDRESS", address)
    try:
        log.setup(_conf(tmp_path, "use_syslog = true\nsyslog_log_facility = LOG_LOCAL3\n"),
                  "lbaas-agent")
        rid = request_id.generate()
        with request_id.bound(rid):
            logging.getLogger("lbaas.test").warning("to syslog")
        datagram = sink.recv(4096).decode()
    finally:
        sink.close()
    # <priority>: local3 (19) * 8 + warning (4) = 156.
    assert datagram.startswith("<156>lbaas-agent[")
    assert datagram.endswith(f"]: WARNING lbaas.test [{rid}] to syslog\x00")
    # stderr still has it (no log file).
    assert "to syslog" in capsys.readouterr().err


def test_unreachable_syslog_and_unknown_facility_are_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log, "SYSLOG_ADDRESS", str(tmp_path / "nothing-here"))
    with pytest.raises(log.LogSetupError, match=r"^use_syslog: cannot reach syslog at "):
        log.setup(_conf(tmp_path, "use_syslog = true\n"), "lbaas-server")
    with pytest.raises(log.LogSetupError, match="syslog_log_facility 'LOG_NOPE'"):
        log.setup(_conf(tmp_path, "use_syslog = true\nsyslog_log_facility = LOG_NOPE\n"),
                  "lbaas-server")


# --- every option checked at start --------------------------------------------------------

@pytest.mark.parametrize("ini, words", [
    ("[DEFAULT]\nbind_port = abc\n", "bind_port"),
    ("[quotas]\nquota_pool = x\n", "quota_pool"),
    ("[DEFAULT]\nuse_json = maybe\n", "use_json"),
    ("[agent]\nagent_down_time = 0\n", "agent_down_time"),
])
def test_check_values_finds_a_bad_value_anywhere(tmp_path: Path, ini: str,
                                                 words: str) -> None:
    path = tmp_path / "bad.conf"
    path.write_text(ini)
    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    conf(["--config-file", str(path)], project="lbaas")
    with pytest.raises(cfg.Error) as err:
        config.check_values(conf)
    line = config.error_line("lbaas-server", err.value)
    assert line.startswith("lbaas-server: configuration error: Value for option " + words)
    assert f"in {path} is not valid" in line
    assert "\n" not in line and "LocationInfo" not in line
