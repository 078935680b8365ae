// The lbaas dashboard: plain JavaScript, no library. Everything it shows comes from the
// REST API with the user's token in X-Auth-Token (docs/operations.md, "The dashboard"):
// /ui/api/overview for the tree, /v2.0/lbaas/... and /v2.0/lb/... for stats and changes.
// Data reaches the page through textContent only, never as HTML.
"use strict";

(() => {
  const REFRESH_MS = 2000;
  const HISTORY = 60;  // points per chart
  const ERRORS_SHOWN = 20;
  const state = {
    token: sessionStorage.getItem("lbaas-token"),
    history: {},   // lb id -> [{t, active, bytes}]
    drawn: {},     // lb id -> JSON of the tree last drawn
    timer: null,
    round: 0,      // the latest refresh; an older one still in flight schedules nothing
    readFailed: false,
    subnets: false,
  };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function status(word) {
    return el("span", {class: `status ${word}`}, word);
  }

  // Both statuses, each named for a screen reader (the colours say it for the eye).
  function statusPair(obj) {
    return [el("span", {class: "visually-hidden"}, " provisioning status"), " ",
            status(obj.provisioning_status),
            el("span", {class: "visually-hidden"}, ", operating status"), " ",
            status(obj.operating_status)];
  }

  // --- talking to the API -------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }

  function errorMessage(code, data, text) {
    if (data && typeof data.faultstring === "string") return data.faultstring;
    if (data && data.NeutronError) return data.NeutronError.message;
    return `HTTP ${code}: ${text.slice(0, 300)}`;
  }

  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (state.token) headers["X-Auth-Token"] = state.token;
    const init = {method, headers};
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, data, text));
    return data;
  }

  function showError(message) {
    const box = $("alert");
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    $("alert").hidden = true;
    $("alert").textContent = "";
  }

  // A change the user asked for: its error (the API's own message) stays on screen.
  async function act(what, fn) {
    clearError();
    try {
      await fn();
    } catch (err) {
      showError(`${what} failed: ${err.message}`);
    }
    refresh();
  }

  // --- login --------------------------------------------------------------------------

  function showLogin(message) {
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("caller").textContent = "";
    if (message) showError(message);
    $("token").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("lbaas-token", state.token);
    $("token").value = "";
    clearError();
    refresh();
  });

  $("logout").addEventListener("click", () => {
    state.token = null;
    sessionStorage.removeItem("lbaas-token");
    clearTimeout(state.timer);
    showLogin();
  });

  // --- reading and drawing ------------------------------------------------------------

  async function refresh() {
    clearTimeout(state.timer);
    const round = ++state.round;
    let overview;
    try {
      overview = await api("GET", "/ui/api/overview");
    } catch (err) {
      if (round !== state.round) return;
      if (err.code === 401) {
        showLogin(state.token ? err.message : null);
        return;
      }
      showError(`Reading the load balancers failed: ${err.message}`);
      state.readFailed = true;
      state.timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    if (round !== state.round) return;
    if (state.readFailed) {
      state.readFailed = false;
      clearError();
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = !state.token;
    const caller = overview.caller;
    $("caller").textContent = caller.is_admin
      ? `Administrator (project ${caller.project_id}): every project`
      : `Project ${caller.project_id}`;
    if (!state.subnets) loadSubnets();
    drawAgents(overview.agents, caller.is_admin);
    drawErrors(overview.loadbalancers);
    drawLoadBalancers(overview.loadbalancers);
    await Promise.all(overview.loadbalancers.map(readStats));
    if (round === state.round) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  async function loadSubnets() {
    try {
      const data = await api("GET", "/v2.0/subnets");
      const select = $("c-subnet");
      select.replaceChildren(...data.subnets.map((s) =>
        el("option", {value: s.id}, `${s.name || s.id} (${s.cidr})`)));
      state.subnets = true;
    } catch (err) {
      showError(`Reading the subnets failed: ${err.message}`);
    }
  }

  function drawAgents(agents, isAdmin) {
    $("agents").hidden = !isAdmin;
    $("agents-body").replaceChildren(...agents.map((a) => el("tr", {id: `agent-${a.id}`},
      el("td", {}, a.host),
      el("td", {}, status(a.alive ? "ONLINE" : "OFFLINE")),
      el("td", {class: "age"}, `${a.heartbeat_age} s`),
      el("td", {}, a.admin_state_up ? "up" : "down"))));
  }

  function objectsOf(lb) {
    const out = [["load balancer", lb]];
    for (const li of lb.listeners) out.push(["listener", li]);
    for (const p of lb.pools) {
      out.push(["pool", p]);
      if (p.healthmonitor) out.push(["health monitor", p.healthmonitor]);
      for (const mem of p.members) out.push(["member", mem]);
    }
    return out;
  }

  // Why an object is where it is: the reason the agent gave; a member's operating ERROR
  // comes from its pool's health checks only.
  function reasonOf(kind, obj) {
    if (obj.status_description) return obj.status_description;
    return kind === "member" && obj.operating_status === "ERROR" ? "fails its health check" : "";
  }

  // Newest first (by the object's last change, UTC), at most ERRORS_SHOWN.
  function drawErrors(lbs) {
    const items = [];
    for (const lb of lbs) {
      for (const [kind, obj] of objectsOf(lb)) {
        const failed = obj.provisioning_status === "ERROR" || obj.operating_status === "ERROR";
        if (!failed && !obj.status_description) continue;
        const word = obj.provisioning_status === "ERROR" ? "ERROR" : obj.operating_status;
        const reason = reasonOf(kind, obj) || "no reason given";
        const label = obj.name || (kind === "member" ? obj.address : obj.id);
        const when = (obj.updated_at || "").replace("T", " ");
        items.push([when, el("li", {},
          `${when} UTC: ${kind} ${label}${kind === "load balancer" ? "" : ` of ${lb.name || lb.id}`}: `,
          status(word), ` ${reason}`)]);
      }
    }
    items.sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));
    const shown = items.slice(0, ERRORS_SHOWN).map((item) => item[1]);
    $("errors-list").replaceChildren(...(shown.length ? shown : [el("li", {}, "None.")]));
  }

  function lbCard(lb) {
    let card = $(`lb-${lb.id}`);
    if (card) return card;
    const charts = el("div", {class: "charts"},
      chartFigure(lb.id, "conn", "Active connections"),
      chartFigure(lb.id, "traffic", "Traffic (bytes/s, in + out)"));
    card = el("article", {class: "lb", id: `lb-${lb.id}`, "data-name": lb.name,
                          "aria-labelledby": `lb-title-${lb.id}`},
      el("div", {class: "summary"}),
      charts,
      el("div", {class: "tree"}),
      memberForm(lb));
    $("lbs").append(card);
    return card;
  }

  function chartFigure(lbId, kind, caption) {
    return el("figure", {},
      el("div", {id: `chart-${kind}-${lbId}`}),
      el("figcaption", {id: `caption-${kind}-${lbId}`}, caption));
  }

  function drawLoadBalancers(lbs) {
    const keep = new Set(lbs.map((lb) => lb.id));
    for (const card of [...$("lbs").children]) {
      const id = card.id.slice(3);
      if (!keep.has(id)) {
        card.remove();
        delete state.drawn[id];
        delete state.history[id];
      }
    }
    $("lbs-empty").hidden = lbs.length > 0;
    for (const lb of lbs) {
      const card = lbCard(lb);
      const json = JSON.stringify(lb);
      // Redrawn only when something changed, and never under the user's cursor.
      if (state.drawn[lb.id] === json || card.querySelector(".tree").contains(document.activeElement)) continue;
      state.drawn[lb.id] = json;
      card.dataset.provisioning = lb.provisioning_status;
      card.querySelector(".summary").replaceChildren(...summary(lb));
      card.querySelector(".tree").replaceChildren(...tree(lb));
      card.querySelector("form.add-member").hidden = lb.pools.length === 0;
    }
  }

  function summary(lb) {
    const version = lb.api_version === 1 ? "v1 pool + VIP" : "v2 load balancer";
    return [
      el("h3", {id: `lb-title-${lb.id}`}, lb.name || lb.id,
         el("span", {class: "visually-hidden"}, " provisioning status"), " ",
         el("span", {class: "lb-status"}, status(lb.provisioning_status)),
         el("span", {class: "visually-hidden"}, ", operating status"), " ",
         el("span", {class: "lb-operating"}, status(lb.operating_status))),
      el("p", {class: "meta"},
         `${version} · id ${lb.id} · VIP ${lb.vip_address || "none"} · project ${lb.project_id}`,
         lb.host ? ` · served by ${lb.host}${lb.agent_alive ? "" : " (agent down)"}` : "",
         lb.status_description ? ` · ${lb.status_description}` : ""),
      el("button", {type: "button", class: "delete-lb",
                    onclick: () => deleteLoadBalancer(lb)}, `Delete ${lb.name || "load balancer"}`),
    ];
  }

  function tree(lb) {
    const out = [];
    const shown = new Set();
    for (const li of lb.listeners) {
      const pool = lb.pools.find((p) => p.id === li.default_pool_id);
      if (pool) shown.add(pool.id);
      out.push(el("div", {class: "listener"},
        el("h4", {}, `Listener ${li.name || li.id}: ${li.protocol} port ${li.protocol_port}`,
           statusPair(li)),
        pool ? poolView(lb, pool) : el("p", {}, "No default pool.")));
    }
    for (const pool of lb.pools) if (!shown.has(pool.id)) out.push(poolView(lb, pool));
    return out;
  }

  function poolView(lb, pool) {
    const hm = pool.healthmonitor;
    const rows = pool.members.map((mem) => el("tr", {id: `member-${mem.id}`, class: "member",
                                                     "data-address": mem.address},
      el("td", {}, mem.address),
      el("td", {}, mem.protocol_port),
      el("td", {}, weightForm(lb, pool, mem)),
      el("td", {class: "provisioning"}, status(mem.provisioning_status)),
      el("td", {class: "operating"}, status(mem.operating_status)),
      el("td", {class: "reason"}, reasonOf("member", mem)),
      el("td", {}, el("button", {type: "button", class: "remove-member",
                                  onclick: () => removeMember(lb, pool, mem)},
                      `Remove ${mem.address}`))));
    return el("div", {class: "pool"},
      el("p", {}, `Pool ${pool.name || pool.id}: ${pool.protocol}, ${pool.lb_algorithm}, `,
         hm ? `${hm.type} health check` : "no health check", statusPair(pool)),
      el("table", {},
        el("caption", {class: "meta"}, `Members of pool ${pool.name || pool.id}`),
        el("thead", {}, el("tr", {}, ...["Address", "Port", "Weight", "Provisioning",
                                           "Health", "Reason", ""].map((h) =>
          el("th", {scope: "col"}, h)))),
        el("tbody", {}, rows)));
  }

  function weightForm(lb, pool, mem) {
    const id = `weight-${mem.id}`;
    const input = el("input", {id, type: "number", value: mem.weight, class: "weight"});
    return el("form", {class: "inline", onsubmit: (event) => {
      event.preventDefault();
      changeWeight(lb, pool, mem, input.value);
    }},
      el("label", {for: id, class: "visually-hidden"}, `Weight of ${mem.address}`),
      input, " ", el("button", {type: "submit"}, "Set"));
  }

  function memberForm(lb) {
    const ids = ["address", "port", "weight"].map((f) => `m-${f}-${lb.id}`);
    const address = el("input", {id: ids[0], class: "m-address", required: true});
    const port = el("input", {id: ids[1], class: "m-port", type: "number", value: 80});
    const weight = el("input", {id: ids[2], class: "m-weight", type: "number", value: 1});
    return el("form", {class: "add-member", onsubmit: (event) => {
      event.preventDefault();
      addMember(lb.id, address.value.trim(), port.value, weight.value);
    }},
      el("label", {for: ids[0]}, "Member address"), " ", address, " ",
      el("label", {for: ids[1]}, "port"), " ", port, " ",
      el("label", {for: ids[2]}, "weight"), " ", weight, " ",
      el("button", {type: "submit"}, "Add member"));
  }

  // --- stats and charts ---------------------------------------------------------------

  async function readStats(lb) {
    const path = lb.api_version === 1 ? `/v2.0/lb/pools/${lb.id}/stats`
                                      : `/v2.0/lbaas/loadbalancers/${lb.id}/stats`;
    let stats;
    try {
      stats = (await api("GET", path)).stats;
    } catch (err) {
      return;  // gone in the meantime, or no VIP yet: the next round tells
    }
    const points = state.history[lb.id] || (state.history[lb.id] = []);
    points.push({t: Date.now() / 1000, active: Number(stats.active_connections),
                 bytes: Number(stats.bytes_in) + Number(stats.bytes_out)});
    if (points.length > HISTORY + 1) points.shift();
    const active = points.map((p) => p.active);
    const rates = points.slice(1).map((p, i) =>
      Math.max(0, (p.bytes - points[i].bytes) / Math.max(0.001, p.t - points[i].t)));
    drawChart(lb.id, "conn", "Active connections", active, "");
    drawChart(lb.id, "traffic", "Traffic (bytes/s, in + out)", rates, " B/s");
  }

  function drawChart(lbId, kind, caption, values, unit) {
    const holder = $(`chart-${kind}-${lbId}`);
    if (!holder) return;
    const width = 240, height = 60;
    const top = Math.max(1, ...values);
    const step = width / Math.max(1, HISTORY - 1);
    // The newest point at the right edge; the chart fills leftwards as history grows.
    const pts = values.map((v, i) =>
      `${(width - (values.length - 1 - i) * step).toFixed(1)},` +
      `${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
    const last = values.length ? Math.round(values[values.length - 1]) : 0;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${caption}: now ${last}${unit}, peak ${Math.round(top)}${unit}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(line);
    holder.replaceChildren(svg);
    $(`caption-${kind}-${lbId}`).textContent = `${caption}: ${last}${unit}`;
  }

  // --- changes ------------------------------------------------------------------------

  // What the user typed goes to the API as typed (a number when it reads as one): the
  // API validates it and its message is shown.
  function num(text) {
    return /^-?\d+$/.test(String(text).trim()) ? Number(text) : text;
  }

  function parseMembers(text) {
    return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
      const cut = line.lastIndexOf(":");
      if (cut < 0) return {address: line.replace(/^\[|\]$/g, ""), protocol_port: 80};
      return {address: line.slice(0, cut).replace(/^\[|\]$/g, ""),
              protocol_port: num(line.slice(cut + 1))};
    });
  }

  function monitorFor(text) {
    const path = text.trim();
    if (path.toLowerCase() === "none") return undefined;
    const base = {delay: 2, timeout: 1, max_retries: 1, max_retries_down: 1};
    return path ? {type: "HTTP", url_path: path, ...base} : {type: "TCP", ...base};
  }

  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const protocol = $("c-protocol").value;
    const pool = {protocol, lb_algorithm: $("c-algorithm").value,
                  members: parseMembers($("c-members").value)};
    const monitor = monitorFor($("c-monitor").value);
    if (monitor) pool.healthmonitor = monitor;
    const body = {loadbalancer: {
      vip_subnet_id: $("c-subnet").value,
      listeners: [{protocol, protocol_port: num($("c-port").value), default_pool: pool}]}};
    const name = $("c-name").value.trim();
    if (name) body.loadbalancer.name = name;
    act("Creating the load balancer", async () => {
      await api("POST", "/v2.0/lbaas/loadbalancers", body);
      $("c-name").value = "";
      $("c-members").value = "";
    });
  });

  async function waitGone(path) {
    for (let i = 0; i < 150; i++) {
      try { await api("GET", path); } catch (err) { if (err.code === 404) return; throw err; }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${path} still exists`);
  }

  function deleteLoadBalancer(lb) {
    if (!window.confirm(`Delete load balancer ${lb.name || lb.id} and everything in it?`)) return;
    act(`Deleting ${lb.name || lb.id}`, async () => {
      if (lb.api_version !== 1) {
        await api("DELETE", `/v2.0/lbaas/loadbalancers/${lb.id}?cascade=true`);
        return;
      }
      // v1: the VIP first, then the pool once the VIP is gone (v1's own order).
      for (const li of lb.listeners) {
        await api("DELETE", `/v2.0/lb/vips/${li.id}`);
        await waitGone(`/v2.0/lb/vips/${li.id}`);
      }
      await api("DELETE", `/v2.0/lb/pools/${lb.id}`);
    });
  }

  function addMember(lbId, address, port, weight) {
    const lb = JSON.parse(state.drawn[lbId] || "null");
    if (!lb || !lb.pools.length) return;
    const pool = lb.pools.find((p) => lb.listeners.some((li) => li.default_pool_id === p.id))
      || lb.pools[0];
    const member = {address, protocol_port: num(port), weight: num(weight)};
    act(`Adding member ${address}`, () => lb.api_version === 1
      ? api("POST", "/v2.0/lb/members", {member: {pool_id: pool.id, ...member}})
      : api("POST", `/v2.0/lbaas/pools/${pool.id}/members`, {member}));
  }

  function removeMember(lb, pool, mem) {
    act(`Removing member ${mem.address}`, () => lb.api_version === 1
      ? api("DELETE", `/v2.0/lb/members/${mem.id}`)
      : api("DELETE", `/v2.0/lbaas/pools/${pool.id}/members/${mem.id}`));
  }

  function changeWeight(lb, pool, mem, weight) {
    const body = {member: {weight: num(weight)}};
    act(`Changing the weight of ${mem.address}`, () => lb.api_version === 1
      ? api("PUT", `/v2.0/lb/members/${mem.id}`, body)
      : api("PUT", `/v2.0/lbaas/pools/${pool.id}/members/${mem.id}`, body));
  }

  refresh();
})();
