"""The dashboard (/ui) as a user sees it in Chromium: logging in with a token, creating a
load balancer through the page and watching it become ACTIVE, a member going down when
its web server dies (real namespaces, HAProxy and health checks), changing members, the
API's own error messages, the administrator's view, and noauth opening straight onto it.
Screenshots are saved under the artifacts folder (conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.functional.ui.conftest import SPEC, TOKENS, client_get
from tests.helpers.netlab import Service, Topology, load_result, start_load, wait_until
from tests.helpers.server import ServerProcess

B1, B2 = SPEC.backend_ips["b1"], SPEC.backend_ips["b2"]
LBAAS = "/v2.0/lbaas"


class Tenant:
    """Alice's network and subnet (made through the API with her token), and the load
    balancers she has at the end of a test, which are deleted."""

    def __init__(self, service: Service) -> None:
        self.api = httpx.Client(base_url=service.url,
                                headers={"X-Auth-Token": TOKENS["alice"][0]}, timeout=30)
        net = self._ok(self.api.post("/v2.0/networks", json={"network": {"name": "tu-net"}}))
        self.network = net["network"]
        start, end = SPEC.vip_range
        self.subnet = self._ok(self.api.post("/v2.0/subnets", json={"subnet": {
            "network_id": self.network["id"], "cidr": SPEC.tenant_cidr, "name": "tu-subnet",
            "gateway_ip": SPEC.tenant_gw,
            "allocation_pools": [{"start": start, "end": end}]}}))["subnet"]

    @staticmethod
    def _ok(resp: httpx.Response) -> Any:
        assert resp.is_success, f"{resp.request.method} {resp.request.url}: {resp.text}"
        return resp.json() if resp.content else None

    def create_lb(self, name: str) -> dict[str, Any]:
        """A v2 load balancer made through the API: HTTP on 80, b1 and b2, health checked."""
        lb = self._ok(self.api.post(f"{LBAAS}/loadbalancers", json={"loadbalancer": {
            "name": name, "vip_subnet_id": self.subnet["id"], "listeners": [{
                "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                    "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": B1, "protocol_port": 80},
                                {"address": B2, "protocol_port": 80}],
                    "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                      "max_retries": 1, "max_retries_down": 1}}}]}}))
        return dict(lb["loadbalancer"])

    def lbs(self) -> list[dict[str, Any]]:
        return list(self._ok(self.api.get(f"{LBAAS}/loadbalancers"))["loadbalancers"])

    def pool_id(self, lb: dict[str, Any]) -> str:
        return str(self._ok(self.api.get(f"{LBAAS}/loadbalancers/{lb['id']}"))[
            "loadbalancer"]["pools"][0]["id"])

    def members(self, lb: dict[str, Any]) -> dict[str, dict[str, Any]]:
        members = self._ok(self.api.get(f"{LBAAS}/pools/{self.pool_id(lb)}/members"))[
            "members"]
        return {m["address"]: m for m in members}

    def cleanup(self) -> None:
        for lb in self.lbs():
            self.api.delete(f"{LBAAS}/loadbalancers/{lb['id']}?cascade=true")
        for lb in self.lbs():
            wait_until(lambda lb=lb: self.api.get(
                f"{LBAAS}/loadbalancers/{lb['id']}").status_code == 404,
                timeout=30, message=f"load balancer {lb['id']} deleted")
        self.api.delete(f"/v2.0/subnets/{self.subnet['id']}")
        self.api.delete(f"/v2.0/networks/{self.network['id']}")
        self.api.close()


@pytest.fixture
def tenant(service: Service) -> Iterator[Tenant]:
    t = Tenant(service)
    try:
        yield t
    finally:
        t.cleanup()


# -- the page --------------------------------------------------------------------------


def visible(driver: Any, css: str) -> list[WebElement]:
    return [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def wait_visible(driver: Any, css: str, timeout: float = 15) -> WebElement:
    found = wait_until(lambda: visible(driver, css), timeout=timeout, interval=0.1,
                       message=f"{css} visible")
    return found[0]  # type: ignore[no-any-return]


def log_in(driver: Any, url: str, token: str) -> None:
    driver.get(url + "/ui")
    wait_visible(driver, "#login-form")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def card(driver: Any, name: str) -> WebElement:
    return wait_visible(driver, f"article.lb[data-name='{name}']", timeout=30)


def text_of(driver: Any, css: str) -> str:
    """The text of the first match, read in one step: the page redraws a load balancer's
    tree when it changes, so an element found a moment ago may be gone."""
    return str(driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        css))


def again(action: Any) -> Any:
    """``action()``, again if the page redrew the element under it meanwhile."""
    for _ in range(10):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return action()


def member_cell(driver: Any, lb_id: str, address: str, cell: str) -> str:
    return text_of(driver, f"#lb-{lb_id} tr.member[data-address='{address}'] td.{cell}")


def alert_text(driver: Any) -> str:
    box = driver.find_element(By.ID, "alert")
    return str(box.text) if box.is_displayed() else ""


def shot(driver: Any, artifacts: Path, name: str) -> None:
    """The whole page (up to 1600 px high) as a PNG in the artifacts folder."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1100, min(1600, height + 20))
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(artifacts / name))


# -- tests -----------------------------------------------------------------------------


def test_a_wrong_token_is_refused_with_the_apis_message_and_a_right_one_logs_in(
        browser: Any, service: Service, tenant: Tenant) -> None:
    log_in(browser, service.url, "not-a-token")
    message = wait_until(lambda: alert_text(browser), timeout=10, message="the refusal")
    refusal = httpx.get(f"{service.url}/ui/api/overview",
                        headers={"X-Auth-Token": "not-a-token"}).json()
    assert message == refusal["NeutronError"]["message"]
    assert visible(browser, "#login-form") and not visible(browser, "#app")

    log_in(browser, service.url, TOKENS["alice"][0])
    wait_visible(browser, "#app")
    assert browser.find_element(By.ID, "caller").text == "Project project-a"
    assert not visible(browser, "#agents")  # an administrator's business
    assert not alert_text(browser)


def test_tenant_creates_a_load_balancer_sees_it_active_and_a_member_go_down(
        browser: Any, service: Service, tenant: Tenant, topology: Topology,
        artifacts: Path) -> None:
    log_in(browser, service.url, TOKENS["alice"][0])
    wait_visible(browser, "#create-form")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#c-subnet option"),
               timeout=10, message="the subnets listed")
    browser.find_element(By.ID, "c-name").send_keys("tu-web")
    browser.find_element(By.ID, "c-members").send_keys(f"{B1}:80\n{B2}:80")
    browser.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()

    lb_card = card(browser, "tu-web")
    seen = set()

    def active() -> bool:
        seen.add(lb_card.get_attribute("data-provisioning"))
        return bool(lb_card.get_attribute("data-provisioning") == "ACTIVE")
    wait_until(active, timeout=60, interval=0.1, message="tu-web ACTIVE on the page")
    assert "PENDING_CREATE" in seen  # the page showed it on its way
    assert not alert_text(browser)
    [lb] = [x for x in tenant.lbs() if x["name"] == "tu-web"]
    assert lb["provisioning_status"] == "ACTIVE"
    lb_id = lb["id"]
    # The data plane behind it is real: both web servers answer through the VIP.
    assert set(client_get(f"http://{lb['vip_address']}/", 6)) == {"b1", "b2"}
    for address in (B1, B2):
        wait_until(lambda a=address: member_cell(browser, lb_id, a, "operating") == "ONLINE",
                   timeout=30, message=f"{address} ONLINE on the page")
    # Some traffic for the charts: 8 s of requests from the client, and the page's
    # traffic chart shows it (the stats the agent reports, a few seconds late).
    load = start_load(SPEC, f"http://{lb['vip_address']}/", 8, 20, ns=SPEC.gw_ns)
    try:
        wait_until(lambda: not text_of(browser, f"#caption-traffic-{lb_id}").endswith(
            ": 0 B/s"), timeout=20, message="traffic on the chart")
    finally:
        assert load_result(load)["failed"] == 0
    shot(browser, artifacts, "dashboard-active.png")

    topology.stop_backend("b2")
    try:
        wait_until(lambda: member_cell(browser, lb_id, B2, "operating") == "ERROR",
                   timeout=30, message="b2 down on the page")
        assert member_cell(browser, lb_id, B1, "operating") == "ONLINE"
        assert member_cell(browser, lb_id, B2, "reason") == "fails its health check"
        wait_until(lambda: text_of(browser, f"#lb-{lb_id} .lb-operating") == "DEGRADED",
                   timeout=15, message="tu-web DEGRADED")
        errors = text_of(browser, "#errors-list")
        assert f"UTC: member {B2} of tu-web: ERROR fails its health check" in errors
        shot(browser, artifacts, "dashboard-member-down.png")
    finally:
        topology.start_backend("b2")
    wait_until(lambda: member_cell(browser, lb_id, B2, "operating") == "ONLINE",
               timeout=30, message="b2 back on the page")

    again(lambda: browser.find_element(By.CSS_SELECTOR, f"#lb-{lb_id} button.delete-lb").click())
    browser.switch_to.alert.accept()
    wait_until(lambda: not browser.find_elements(By.ID, f"lb-{lb_id}"), timeout=60,
               message="tu-web gone from the page")
    assert tenant.api.get(f"{LBAAS}/loadbalancers/{lb_id}").status_code == 404


def test_member_changes_through_the_page_and_the_apis_own_error_messages(
        browser: Any, service: Service, tenant: Tenant) -> None:
    lb = tenant.create_lb("tu-members")
    log_in(browser, service.url, TOKENS["alice"][0])
    lb_card = card(browser, "tu-members")
    wait_until(lambda: lb_card.get_attribute("data-provisioning") == "ACTIVE", timeout=60,
               message="tu-members ACTIVE")

    weight_id = f"weight-{tenant.members(lb)[B1]['id']}"

    def set_weight() -> None:
        weight = browser.find_element(By.ID, weight_id)
        weight.clear()
        weight.send_keys("5")
        weight.submit()
    again(set_weight)
    wait_until(lambda: tenant.members(lb)[B1]["weight"] == 5, timeout=15,
               message="the weight changed")

    # What the API says about bad input is what the page shows.
    pool_id = tenant.pool_id(lb)
    refusal = tenant.api.post(f"{LBAAS}/pools/{pool_id}/members", json={"member": {
        "address": "10.98.10.300", "protocol_port": 80, "weight": 1}})
    assert refusal.status_code == 400
    address = lb_card.find_element(By.CSS_SELECTOR, "input.m-address")
    address.send_keys("10.98.10.300")
    address.submit()
    message = wait_until(lambda: alert_text(browser), timeout=10, message="the API's error")
    assert message == f"Adding member 10.98.10.300 failed: {refusal.json()['faultstring']}"

    address = lb_card.find_element(By.CSS_SELECTOR, "input.m-address")
    address.clear()
    address.send_keys("10.98.10.13")
    address.submit()
    wait_until(lambda: "10.98.10.13" in tenant.members(lb), timeout=15,
               message="the member added")
    wait_until(lambda: member_cell(browser, lb["id"], "10.98.10.13", "provisioning"),
               timeout=15, message="the new member on the page")
    wait_until(lambda: tenant.members(lb)["10.98.10.13"]["provisioning_status"] == "ACTIVE",
               timeout=30, message="the new member ACTIVE")
    time.sleep(2.5)  # the page's next round shows it ACTIVE; then remove it
    again(lambda: browser.find_element(
        By.CSS_SELECTOR, f"#lb-{lb['id']} tr.member[data-address='10.98.10.13'] "
                         "button.remove-member").click())
    wait_until(lambda: "10.98.10.13" not in tenant.members(lb), timeout=30,
               message="the member removed")
    assert not alert_text(browser)


def test_a_v1_pool_with_its_vip_is_shown_changed_and_deleted_through_v1s_api(
        browser: Any, service: Service, tenant: Tenant) -> None:
    v1 = tenant.api
    pool = Tenant._ok(v1.post("/v2.0/lb/pools", json={"pool": {
        "name": "tu-v1", "subnet_id": tenant.subnet["id"], "protocol": "HTTP",
        "lb_method": "ROUND_ROBIN"}}))["pool"]
    member = Tenant._ok(v1.post("/v2.0/lb/members", json={"member": {
        "pool_id": pool["id"], "address": B1, "protocol_port": 80}}))["member"]
    vip = Tenant._ok(v1.post("/v2.0/lb/vips", json={"vip": {
        "name": "tu-v1-vip", "subnet_id": tenant.subnet["id"], "protocol": "HTTP",
        "protocol_port": 80, "pool_id": pool["id"]}}))["vip"]
    try:
        log_in(browser, service.url, TOKENS["alice"][0])
        lb_card = wait_visible(browser, f"#lb-{pool['id']}", timeout=30)
        wait_until(lambda: lb_card.get_attribute("data-provisioning") == "ACTIVE",
                   timeout=60, message="the v1 pool ACTIVE on the page")
        assert "v1 pool + VIP" in text_of(browser, f"#lb-{pool['id']} .meta")
        assert client_get(f"http://{vip['address']}/", 2) == ["b1", "b1"]

        def set_weight() -> None:
            weight = browser.find_element(By.ID, f"weight-{member['id']}")
            weight.clear()
            weight.send_keys("3")
            weight.submit()
        again(set_weight)
        wait_until(lambda: v1.get(f"/v2.0/lb/members/{member['id']}").json()[
            "member"]["weight"] == 3, timeout=15, message="the v1 weight changed")

        again(lambda: browser.find_element(
            By.CSS_SELECTOR, f"#lb-{pool['id']} button.delete-lb").click())
        browser.switch_to.alert.accept()
        wait_until(lambda: v1.get(f"/v2.0/lb/pools/{pool['id']}").status_code == 404,
                   timeout=60, message="the v1 pool deleted through the page")
        assert v1.get(f"/v2.0/lb/vips/{vip['id']}").status_code == 404
        assert not alert_text(browser)
    finally:
        if v1.delete(f"/v2.0/lb/vips/{vip['id']}").status_code == 204:
            wait_until(lambda: v1.get(f"/v2.0/lb/vips/{vip['id']}").status_code == 404,
                       timeout=30, message="the v1 VIP deleted")
        v1.delete(f"/v2.0/lb/pools/{pool['id']}")
        wait_until(lambda: v1.get(f"/v2.0/lb/pools/{pool['id']}").status_code == 404,
                   timeout=30, message="the v1 pool deleted")


def test_admin_sees_every_project_the_serving_host_and_the_agents(
        browser: Any, service: Service, tenant: Tenant, artifacts: Path) -> None:
    lb = tenant.create_lb("tu-alice")
    log_in(browser, service.url, TOKENS["admin"][0])
    lb_card = card(browser, "tu-alice")
    wait_until(lambda: lb_card.get_attribute("data-provisioning") == "ACTIVE", timeout=60,
               message="tu-alice ACTIVE")
    assert "Administrator" in browser.find_element(By.ID, "caller").text
    meta = text_of(browser, f"#lb-{lb['id']} .meta")
    assert "project project-a" in meta and f"served by {service.host}" in meta
    assert lb["id"] in meta
    wait_visible(browser, "#agents-body tr")
    row = text_of(browser, "#agents-body tr")
    assert service.host in row and "ONLINE" in row
    age = int(text_of(browser, "#agents-body tr .age").split()[0])
    assert 0 <= age < 30
    shot(browser, artifacts, "dashboard-admin.png")


def test_noauth_opens_straight_onto_the_admin_view(browser: Any) -> None:
    with ServerProcess(auth_strategy="noauth") as server:
        browser.get(server.url + "/ui")
        wait_visible(browser, "#app")
        assert not visible(browser, "#login-form")
        assert browser.find_element(By.ID, "caller").text.startswith("Administrator")
        assert visible(browser, "#agents")
