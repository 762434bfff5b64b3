// The chat page: rooms, messages, presence, over a WebSocket (/ws) or,
// where that cannot open, Server-Sent Events (/sse) with POST /publish.
// It reconnects by itself, with backoff and jitter, and on reconnecting
// asks each room for what came after the last message it has (offset and
// epoch); when the server cannot give all of it, it says so.
//
// Query parameters: user=NAME logs in at once (with a server in -dev),
// token=T uses that token, rooms=a,b joins those rooms (default lobby),
// transport=ws|sse forces a transport.
"use strict";

(() => {
	const $ = (id) => document.getElementById(id);
	const params = new URLSearchParams(location.search);
	const forced = params.get("transport"); // "ws", "sse" or null
	const HISTORY = 50; // messages asked for on a first join
	const utf8 = new TextEncoder();

	const state = {
		user: null,
		token: null,
		exp: 0, // the token's expiry, Unix seconds
		dev: false, // tokens come from GET /token
		rooms: new Map(), // name -> room()
		active: null, // the room shown
		conn: null, // the open (or opening) connection
		client: null, // this connection's id, from hello
		attempt: 0, // reconnects since the last hello
		wsFailures: 0, // WebSockets in a row that did not open
		timer: 0,
		paused: false, // window.chat.pause(): no reconnecting
		pending: new Map(), // publish id -> {room, text}, until acked
		resend: [], // {room, text}: refused by a draining server, sent again once the room is rejoined
		seq: 0,
	};

	function room(name) {
		return {
			name,
			pos: null, // {offset, epoch} of the last message seen
			asked: null, // the position the last join asked to recover from
			seen: new Set(), // "epoch:offset" of the messages shown
			items: [], // messages and gaps, in order
			presence: new Map(), // client id -> user
			joined: false,
			unread: 0,
		};
	}

	// ---- the DOM ----

	function setStatus(s, text) {
		const el = $("status");
		el.dataset.state = s;
		el.dataset.transport = state.conn ? state.conn.transport : "";
		el.textContent = text;
		$("send").disabled = !(s === "open" && state.active && state.rooms.get(state.active)?.joined);
	}

	function notice(text) {
		const el = document.createElement("div");
		el.className = "notice";
		el.textContent = text;
		el.title = "click to dismiss";
		el.onclick = () => el.remove();
		const box = $("notices");
		box.append(el);
		while (box.children.length > 5) box.firstElementChild.remove();
	}

	function renderRooms() {
		const ul = $("rooms");
		ul.replaceChildren();
		for (const r of state.rooms.values()) {
			const li = document.createElement("li");
			li.className = "room" + (r.name === state.active ? " active" : "") + (r.joined ? " joined" : "");
			li.dataset.room = r.name;
			const b = document.createElement("button");
			b.className = "switch";
			b.type = "button";
			b.textContent = "#" + r.name;
			const n = document.createElement("span");
			n.className = "unread";
			n.textContent = r.unread ? String(r.unread) : "";
			b.append(n);
			b.onclick = () => show(r.name);
			const x = document.createElement("button");
			x.className = "leave";
			x.type = "button";
			x.title = "leave";
			x.textContent = "×";
			x.onclick = () => leave(r.name);
			li.append(b, x);
			ul.append(li);
		}
	}

	function messageElement(room, m) {
		const li = document.createElement("li");
		if (m.gap) {
			li.className = "gap";
			li.textContent = "— some messages could not be recovered —";
			return li;
		}
		li.className = "message";
		li.dataset.room = room;
		li.dataset.offset = m.offset;
		li.dataset.epoch = m.epoch;
		const t = document.createElement("span");
		t.className = "time";
		t.textContent = new Date(m.time).toLocaleTimeString();
		const u = document.createElement("span");
		u.className = "user";
		u.textContent = m.user;
		const x = document.createElement("span");
		x.className = "text";
		x.textContent = m.text;
		li.append(t, u, x);
		return li;
	}

	function renderMessages() {
		const r = state.rooms.get(state.active);
		$("room-title").textContent = r ? "#" + r.name : "no room";
		const ol = $("messages");
		ol.replaceChildren(...(r ? r.items.map((m) => messageElement(r.name, m)) : []));
		ol.scrollTop = ol.scrollHeight;
	}

	function appendMessage(r, m) {
		if (r.name !== state.active) return;
		const ol = $("messages");
		const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
		ol.append(messageElement(r.name, m));
		if (atBottom) ol.scrollTop = ol.scrollHeight;
	}

	function renderPresence() {
		const r = state.rooms.get(state.active);
		const ul = $("presence");
		ul.replaceChildren();
		if (!r) return;
		for (const [id, user] of [...r.presence].sort((a, b) => a[1].localeCompare(b[1]))) {
			const li = document.createElement("li");
			li.dataset.id = id;
			li.textContent = user + (id === state.client ? " (you)" : "");
			ul.append(li);
		}
	}

	function show(name) {
		state.active = name;
		const r = state.rooms.get(name);
		if (r) r.unread = 0;
		renderRooms();
		renderMessages();
		renderPresence();
		refreshStatus();
	}

	function refreshStatus() {
		const c = state.conn;
		if (c && c.hello) setStatus("open", "connected (" + c.transport + ")");
		else setStatus($("status").dataset.state, $("status").textContent);
	}

	// ---- the protocol ----

	function handle(conn, m) {
		if (conn !== state.conn) return;
		const r = m.room ? state.rooms.get(m.room) : null;
		switch (m.op) {
		case "hello":
			conn.hello = true;
			state.client = m.client;
			state.attempt = 0;
			if (conn.transport === "ws") state.wsFailures = 0;
			setStatus("open", "connected (" + conn.transport + ")");
			for (const rr of state.rooms.values()) {
				rr.asked = rr.pos;
				if (conn.transport === "ws") conn.send(joinRequest(rr));
			}
			break;
		case "joined":
			if (!r) return;
			r.joined = true;
			r.presence = new Map((m.presence || []).map((c) => [c.id, c.user]));
			// Not recovered: say so, unless the room was empty and still is
			// (a server restarted without history, that had none to lose).
			if (r.asked && !m.recovered && (r.seen.size > 0 || m.position.offset > 0)) {
				notice("#" + r.name + ": the messages missed while disconnected could not all be recovered; showing the latest.");
				r.items.push({gap: true});
				if (r.name === state.active) renderMessages();
			}
			if (!m.recovered) r.pos = m.position; // the history that follows is at or before it
			for (const x of state.resend.filter((x) => x.room === r.name)) publish(r, x.text);
			state.resend = state.resend.filter((x) => x.room !== r.name);
			renderRooms();
			if (r.name === state.active) renderPresence();
			refreshStatus();
			break;
		case "message": {
			if (!r) return;
			const key = m.epoch + ":" + m.offset;
			if (r.seen.has(key)) return;
			r.seen.add(key);
			r.items.push(m);
			if (!r.pos || r.pos.epoch !== m.epoch || m.offset > r.pos.offset) r.pos = {offset: m.offset, epoch: m.epoch};
			if (r.name === state.active) appendMessage(r, m);
			else { r.unread++; renderRooms(); }
			break;
		}
		case "join":
			if (!r) return;
			r.presence.set(m.client.id, m.client.user);
			if (r.name === state.active) renderPresence();
			break;
		case "leave":
			if (!r) return;
			r.presence.delete(m.client.id);
			if (r.name === state.active) renderPresence();
			break;
		case "ack":
			state.pending.delete(m.id);
			break;
		case "error":
			if (m.code === 3001 && state.pending.has(m.id)) {
				// Not published: the server drains. Sent again after the reconnect.
				state.resend.push(state.pending.get(m.id));
				state.pending.delete(m.id);
				break;
			}
			if (m.id) state.pending.delete(m.id);
			if (r && !r.joined && !m.id) { // the join failed
				state.rooms.delete(r.name);
				if (state.active === r.name) state.active = state.rooms.keys().next().value || null;
				show(state.active);
			}
			notice((m.room ? "#" + m.room + ": " : "") + m.error);
			break;
		case "disconnect": // SSE: the stream ends as a WebSocket would close with m.code
			conn.close();
			lost(conn, m.code, m.reason);
			break;
		}
	}

	function joinRequest(r) {
		const j = {op: "join", room: r.name, history: HISTORY};
		if (r.pos) j.since = r.pos;
		return j;
	}

	// ---- connections ----

	function connect() {
		clearTimeout(state.timer);
		if (state.conn || state.paused) return;
		const transport = forced === "sse" || forced === "ws" ? forced : state.wsFailures >= 2 ? "sse" : "ws";
		setStatus("connecting", "connecting (" + transport + ")…");
		freshToken().then(() => {
			if (state.conn) return;
			if (transport === "ws") openWS();
			else openSSE();
		}, (err) => {
			notice(String(err.message || err));
			retry(0);
		});
	}

	function openWS() {
		const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
		// The token rides as a subprotocol, the one header a page may set.
		const ws = new WebSocket(url, ["chat", "token." + state.token]);
		const conn = {
			transport: "ws", opened: false, hello: false,
			send(m) { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); },
			publish(m) { this.send(m); },
			close(code) { ws.close(code || 1000); },
		};
		state.conn = conn;
		ws.onopen = () => { conn.opened = true; };
		ws.onmessage = (e) => handle(conn, JSON.parse(e.data));
		ws.onclose = (e) => {
			if (state.conn !== conn) return;
			if (!conn.opened) {
				state.wsFailures++;
				refused();
			}
			lost(conn, e.code, e.reason);
		};
	}

	function openSSE() {
		const q = new URLSearchParams({token: state.token, rooms: [...state.rooms.keys()].join(","), history: String(HISTORY)});
		const since = [...state.rooms.values()].filter((r) => r.pos).map((r) => r.name + ":" + r.pos.offset + ":" + r.pos.epoch);
		if (since.length) q.set("since", since.join(","));
		const es = new EventSource("/sse?" + q);
		const conn = {
			transport: "sse", hello: false,
			// Joining or leaving a room opens a new stream with the rooms
			// and their positions.
			send() { this.close(); if (state.conn === conn) { state.conn = null; connect(); } },
			publish(m) {
				fetch("/publish", {method: "POST", headers: {"Authorization": "Bearer " + state.token, "Content-Type": "application/json"}, body: JSON.stringify(m)})
					.then((resp) => resp.json())
					.then((a) => handle(conn, a), () => handle(conn, {op: "error", id: m.id, error: "publish failed"}));
			},
			close() { es.close(); },
		};
		state.conn = conn;
		es.onmessage = (e) => handle(conn, JSON.parse(e.data));
		es.onerror = () => {
			// EventSource would reconnect by itself, with the positions of
			// when it opened: this page reconnects with the current ones.
			es.close();
			if (state.conn !== conn) return;
			state.wsFailures = 0; // try the WebSocket again first
			if (!conn.hello) refused();
			lost(conn, 0, "");
		};
	}

	// lost: the connection has ended (code: the WebSocket's close code,
	// or the one an SSE disconnect stands for).
	function lost(conn, code, reason) {
		if (state.conn !== conn) return;
		state.conn = null;
		for (const r of state.rooms.values()) r.joined = false;
		renderRooms();
		if (state.pending.size) {
			notice(state.pending.size + " message(s) sent just before the connection dropped may not have gone out.");
			state.pending.clear();
		}
		// 3001: the server drains and asks for a reconnect at once.
		retry(code === 3001 ? 1 : 0, reason);
	}

	function retry(soon, reason) {
		clearTimeout(state.timer);
		if (state.paused) return;
		const n = state.attempt++;
		// Exponential backoff with jitter: half the step fixed, half random,
		// so that the clients of a restarted server do not come back at once.
		const step = soon ? 250 : Math.min(30000, 500 * 2 ** n);
		const delay = Math.round(step / 2 + Math.random() * step / 2);
		setStatus("reconnecting", "reconnecting in " + (delay / 1000).toFixed(1) + "s" + (reason ? " (" + reason + ")" : ""));
		state.timer = setTimeout(connect, delay);
	}

	// refused: a connection did not open. The page cannot tell why (the
	// server may be down, or not take the token: a restarted -dev server
	// has a new key), so with tokens from /token it gets a new one first.
	function refused() {
		if (state.dev) state.exp = 0;
	}

	// freshToken gets a new token from /token when the one held expires
	// within a minute, if the server issues them.
	async function freshToken() {
		if (state.token && state.exp - Date.now() / 1000 > 60) return;
		if (!state.dev) {
			if (state.token) return; // the server says whether it is still good
			throw new Error("no token");
		}
		const resp = await fetch("/token?user=" + encodeURIComponent(state.user));
		if (!resp.ok) throw new Error("token: " + (await resp.text()).trim());
		const t = await resp.json();
		state.token = t.token;
		state.exp = t.exp;
	}

	// tokenClaims reads the claims of a token (not checking it: the
	// server does).
	function tokenClaims(tok) {
		try {
			const p = tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
			return JSON.parse(atob(p));
		} catch (e) {
			return null;
		}
	}

	// ---- what the user does ----

	function join(name) {
		if (!/^[A-Za-z0-9_=-]{1,128}$/.test(name)) {
			notice("a room name is 1 to 128 of A-Z a-z 0-9 _ - =");
			return;
		}
		if (!state.rooms.has(name)) {
			const r = room(name);
			state.rooms.set(name, r);
			if (state.conn && state.conn.hello) state.conn.send(joinRequest(r));
		}
		show(name);
	}

	function leave(name) {
		if (!state.rooms.delete(name)) return;
		if (state.conn && state.conn.hello) state.conn.send({op: "leave", room: name});
		if (state.active === name) state.active = state.rooms.keys().next().value || null;
		show(state.active);
	}

	function send(text) {
		const r = state.rooms.get(state.active);
		if (!text || !r || !r.joined || !state.conn || !state.conn.hello) return false;
		if (utf8.encode(text).length > 4096) {
			notice("a message is at most 4096 bytes");
			return false;
		}
		publish(r, text);
		return true;
	}

	function publish(r, text) {
		const id = "m" + ++state.seq;
		state.pending.set(id, {room: r.name, text});
		state.conn.publish({op: "publish", room: r.name, text, id});
	}

	async function login(user, token) {
		$("login-error").hidden = true;
		if (token) {
			const c = tokenClaims(token);
			if (!c || !c.sub) throw new Error("that is not a token");
			state.user = c.sub;
			state.token = token;
			state.exp = c.exp || 0;
		} else {
			state.user = user;
			const resp = await fetch("/token?user=" + encodeURIComponent(user));
			if (resp.status === 404) {
				$("token-label").hidden = false;
				throw new Error("This server issues no tokens (it runs without -dev): paste one, made with `chat -secret ... -mint " + user + "`.");
			}
			if (!resp.ok) throw new Error((await resp.text()).trim());
			const t = await resp.json();
			state.dev = true;
			state.token = t.token;
			state.exp = t.exp;
		}
		$("me").textContent = state.user;
		$("login").hidden = true;
		$("chat").hidden = false;
		const rooms = (params.get("rooms") || "lobby").split(",").filter(Boolean);
		for (const name of rooms) join(name);
		show(rooms[0] || null);
		connect();
	}

	function start() {
		$("login-form").onsubmit = (e) => {
			e.preventDefault();
			login($("user").value.trim(), $("token").value.trim()).catch((err) => {
				$("login-error").textContent = err.message;
				$("login-error").hidden = false;
			});
		};
		$("join-form").onsubmit = (e) => {
			e.preventDefault();
			join($("join-room").value.trim());
			$("join-room").value = "";
		};
		$("send-form").onsubmit = (e) => {
			e.preventDefault();
			if (send($("text").value)) $("text").value = "";
		};
		if (params.get("user") || params.get("token")) {
			$("user").value = params.get("user") || "";
			$("token").value = params.get("token") || "";
			$("login-form").requestSubmit();
		}
	}

	// For tests and the console: the state; drop cuts the connection as a
	// network would (the page reconnects); pause cuts it until resume.
	function cut() {
		const c = state.conn;
		if (c) {
			c.close(4000);
			lost(c, 4000, "dropped");
		}
	}
	window.chat = {
		state,
		drop: cut,
		pause() {
			state.paused = true;
			cut();
			clearTimeout(state.timer);
			setStatus("closed", "paused");
		},
		resume() {
			state.paused = false;
			state.attempt = 0;
			connect();
		},
	};

	start();
})();
