// voicerouter call page: WebRTC audio to the server (POST /offer), the call's events over the "events"
// data channel, rendered as a live transcript and one routing card per turn. Plain JS, no build step.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const TEST_MODE = params.get("test") === "1";
  const ICE_GATHER_TIMEOUT_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), agent: $("agent"), description: $("agent-description"), call: $("call"),
    callLabel: $("call-label"), micLevel: $("mic-level"), cost: $("cost"), turns: $("turns"),
    duration: $("duration"), error: $("error"), transcript: $("transcript"), routes: $("routes"),
    remoteAudio: $("remote-audio"), auth: $("auth"), token: $("token"),
  };

  // What the tests read: every engine event received, and the level of the audio coming from the agent.
  const testHooks = { events: [], messages: [], remoteAudioLevel: () => 0, connectionState: () => "new" };
  window.voicerouterTest = testHooks;

  let call = null; // the live call's state, or null
  let serverToken = null; // typed into the page when the server needs one; in memory only, never in a URL

  // ---------------------------------------------------------------- access

  // A server with a token gets a fresh one-minute ticket (POST /session) for each request the page makes.
  async function authHeaders() {
    if (!serverToken) return {};
    const res = await fetch("/session", { method: "POST", headers: { Authorization: `Bearer ${serverToken}` } });
    if (res.status === 401) throw new Error("the server did not accept that token");
    if (!res.ok) throw new Error(`POST /session: ${res.status}`);
    const { ticket } = await res.json();
    return ticket ? { Authorization: `Bearer ${ticket}` } : {};
  }

  function askForToken(note) {
    ui.auth.hidden = false;
    ui.token.focus();
    if (note) showError(note);
  }

  ui.auth.addEventListener("submit", (e) => {
    e.preventDefault();
    serverToken = ui.token.value;
    ui.token.value = "";
    hideError();
    loadAgents();
  });

  // ---------------------------------------------------------------- agents

  async function loadAgents() {
    try {
      const res = await fetch("/agents", { headers: await authHeaders() });
      if (res.status === 401) {
        askForToken(serverToken ? "The server did not accept that token." : "");
        serverToken = null;
        return;
      }
      if (!res.ok) throw new Error(`GET /agents: ${res.status}`);
      ui.auth.hidden = true;
      const { agents, default: preferred } = await res.json();
      ui.agent.replaceChildren(...agents.map((a) => new Option(a.display_name, a.name)));
      ui.agent.value = params.get("agent") || preferred;
      const describe = () => {
        const chosen = agents.find((a) => a.name === ui.agent.value);
        ui.description.textContent = chosen ? chosen.description : "";
      };
      ui.agent.addEventListener("change", describe);
      describe();
      ui.agent.disabled = false;
      ui.call.disabled = false;
    } catch (err) {
      serverToken = null;
      askForToken(`Could not load the agents: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- call lifecycle

  async function startCall() {
    hideError();
    resetView();
    setStatus("connecting", "Connecting…");
    setCallButton("hangup");
    ui.agent.disabled = true;
    const audioContext = new AudioContext(); // created inside the click, so the browser lets it play
    call = {
      pc: null, channel: null, stream: null, audioContext, micAnalyser: null, remoteAnalyser: null,
      startedAt: null, timer: null, meterFrame: null, costUsd: 0, completedTurns: 0, turns: new Map(), agentBubbles: new Map(),
      listening: null, ended: false,
    };
    try {
      // Browsers want echo cancellation on for real use; the test's fake microphone needs it off.
      const audio = TEST_MODE ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : true;
      call.stream = await navigator.mediaDevices.getUserMedia({ audio });
      call.micAnalyser = analyserFor(call.stream, audioContext);
      meterLoop();

      const pc = new RTCPeerConnection({ iceServers: [] });
      call.pc = pc;
      testHooks.connectionState = () => pc.connectionState;
      call.stream.getTracks().forEach((track) => pc.addTrack(track, call.stream));
      call.channel = pc.createDataChannel("events");
      call.channel.onmessage = (msg) => onMessage(JSON.parse(msg.data));
      pc.ontrack = (e) => onRemoteTrack(e);
      pc.onconnectionstatechange = () => onConnectionState(pc.connectionState);

      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone(pc);
      const headers = { "Content-Type": "application/json", ...(await authHeaders()) };
      const res = await fetch("/offer", {
        method: "POST", headers,
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", agent: ui.agent.value }),
      });
      if (!res.ok) throw new Error((await res.text()).trim() || `POST /offer: ${res.status}`);
      await pc.setRemoteDescription(await res.json());
    } catch (err) {
      endCall(`Could not start the call: ${err.message}`, true);
    }
  }

  function hangUp() {
    if (call && call.channel && call.channel.readyState === "open") {
      call.channel.send(JSON.stringify({ type: "hangup" }));
    }
    endCall("You hung up.");
  }

  function endCall(note, failed = false) {
    if (!call || call.ended) return;
    call.ended = true;
    clearInterval(call.timer);
    cancelAnimationFrame(call.meterFrame);
    if (call.pc) call.pc.close();
    if (call.stream) call.stream.getTracks().forEach((t) => t.stop());
    call.audioContext.close();
    ui.remoteAudio.srcObject = null;
    ui.micLevel.style.width = "0%";
    testHooks.remoteAudioLevel = () => 0;
    setStatus(failed ? "failed" : "ended", failed ? "Call failed" : "Call ended");
    setCallButton("call");
    ui.agent.disabled = false;
    if (failed) showError(note);
    else addSystemLine(note);
  }

  function onConnectionState(state) {
    if (!call || call.ended) return;
    if (state === "connected") {
      setStatus("connected", "Connected");
      call.startedAt = performance.now();
      call.timer = setInterval(updateDuration, 500);
    } else if (state === "failed") {
      endCall("The connection to the server failed.", true);
    } else if (state === "closed") {
      endCall("The call ended.");
    }
  }

  function onRemoteTrack(e) {
    const stream = e.streams[0] || new MediaStream([e.track]);
    // Chrome feeds a remote WebRTC stream to WebAudio only while a media element plays it too.
    ui.remoteAudio.srcObject = stream;
    ui.remoteAudio.play().catch(() => {});
    call.remoteAnalyser = analyserFor(stream, call.audioContext);
    const analyser = call.remoteAnalyser;
    testHooks.remoteAudioLevel = () => rmsLevel(analyser);
  }

  function iceGatheringDone(pc) {
    // The server does not trickle ICE: the offer must carry the candidates.
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      pc.addEventListener("icegatheringstatechange", check);
      setTimeout(done, ICE_GATHER_TIMEOUT_MS);
    });
  }

  // ---------------------------------------------------------------- messages from the server

  function onMessage(msg) {
    testHooks.messages.push(msg);
    if (msg.type === "event") onEvent(msg.event);
    else if (msg.type === "latency") onLatency(msg);
    else if (msg.type === "stop") endCall(endNote(msg.reason));
  }

  function endNote(reason) {
    if (reason === "agent ended the call") return "The agent ended the call.";
    if (reason === "caller hung up") return "You hung up.";
    return `The call ended: ${reason}.`;
  }

  function onEvent(ev) {
    testHooks.events.push(ev);
    switch (ev.type) {
      case "user.speech_started": showListening(); break;
      case "user.transcript": if (ev.final) addUserLine(ev.text); break;
      case "turn.started": turnCard(ev.turn_id, ev.text); break;
      case "route.decided": onRoute(ev); break;
      case "llm.first_token": setFact(ev.turn_id, "First token", `${ev.ttft_ms} ms`); break;
      case "tool.called": addTool(ev.turn_id, ev.name, "…"); break;
      case "tool.result": addTool(ev.turn_id, ev.name, ev.ok ? "✓" : ev.timed_out ? "timed out" : "✗"); break;
      case "agent.text": onAgentText(ev); break;
      case "turn.interrupted": onInterrupted(ev); break;
      case "provider.failed": onProviderFailed(ev); break;
      case "turn.completed": onTurnCompleted(ev); break;
      case "call.ended": setCost(ev.cost_usd); break;
      default: break;
    }
  }

  function onRoute(ev) {
    const card = turnCard(ev.turn_id);
    card.tier.textContent = ev.tier;
    card.tier.className = `tier tier-${ev.tier}`;
    card.root.dataset.tier = ev.tier;
    setFact(ev.turn_id, "Model", `${ev.model} · ${ev.provider}`);
    setFact(ev.turn_id, "Reason", ev.reason);
    setFact(ev.turn_id, "Confidence", `${Math.round(ev.confidence * 100)}%`);
    setFact(ev.turn_id, "Estimate", formatUsd(ev.est_cost_usd));
  }

  function onAgentText(ev) {
    let bubble = call.agentBubbles.get(ev.turn_id);
    if (!bubble) {
      bubble = addBubble("agent", "Agent", "");
      call.agentBubbles.set(ev.turn_id, bubble);
    }
    const text = bubble.querySelector(".text");
    // Partial events carry the next sentence; the final one carries the whole answer.
    text.textContent = ev.final ? ev.text : [text.textContent, ev.text].filter(Boolean).join(" ");
    scrollToEnd(ui.transcript);
  }

  function onInterrupted(ev) {
    const bubble = call.agentBubbles.get(ev.turn_id);
    if (bubble) {
      bubble.querySelector(".text").textContent = ev.heard_text;
      bubble.classList.add("interrupted");
    }
    if (call.turns.has(ev.turn_id)) setState(ev.turn_id, "Interrupted by the caller", "warn");
  }

  function onProviderFailed(ev) {
    const to = ev.fallback_to ? `, fell back to ${ev.fallback_to}` : "";
    setFact(ev.turn_id, "Fallback", `${ev.model} failed (${ev.error})${to}`);
  }

  function onTurnCompleted(ev) {
    if (!turnCard(ev.turn_id).facts.has("Model")) setFact(ev.turn_id, "Model", ev.model);
    if (ev.first_token_ms !== null && ev.first_token_ms !== undefined) {
      setFact(ev.turn_id, "First token", `${ev.first_token_ms} ms`);
    }
    setFact(ev.turn_id, "Cost", formatUsd(ev.cost_usd));
    setFact(ev.turn_id, "Tokens", `${ev.tokens_in} in · ${ev.tokens_out} out`);
    const card = turnCard(ev.turn_id);
    if (!card.root.classList.contains("interrupted")) setState(ev.turn_id, `Done · turn took ${(ev.total_ms / 1000).toFixed(1)} s`, "done");
    call.costUsd += ev.cost_usd;
    call.completedTurns += 1;
    setCost(call.costUsd);
    ui.turns.textContent = String(call.completedTurns);
  }

  function onLatency(msg) {
    setFact(msg.turn_id, "Voice ready", `${Math.round(msg.response_ms)} ms after the transcript`);
  }

  // ---------------------------------------------------------------- transcript

  function addBubble(kind, who, text) {
    clearEmpty(ui.transcript);
    const li = document.createElement("li");
    li.className = `bubble ${kind}`;
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(label, body);
    ui.transcript.append(li);
    scrollToEnd(ui.transcript);
    return li;
  }

  function showListening() {
    if (call.listening) return;
    call.listening = addBubble("user listening", "You", "Listening…");
  }

  function addUserLine(text) {
    const bubble = call.listening;
    call.listening = null;
    if (!text.trim()) {
      if (bubble) bubble.remove();
      return;
    }
    if (bubble) {
      bubble.classList.remove("listening");
      bubble.querySelector(".text").textContent = text;
    } else {
      addBubble("user", "You", text);
    }
  }

  function addSystemLine(text) {
    const li = document.createElement("li");
    li.className = "bubble system";
    li.textContent = text;
    clearEmpty(ui.transcript);
    ui.transcript.append(li);
    scrollToEnd(ui.transcript);
  }

  // ---------------------------------------------------------------- route cards

  function turnCard(turnId, said) {
    let card = call.turns.get(turnId);
    if (!card) {
      clearEmpty(ui.routes);
      const root = document.createElement("li");
      root.className = "route-card";
      root.dataset.turn = String(turnId);
      const head = document.createElement("div");
      head.className = "route-head";
      const title = document.createElement("span");
      title.className = "turn-no";
      title.textContent = `Turn ${turnId}`;
      const tier = document.createElement("span");
      tier.className = "tier";
      tier.textContent = "routing…";
      head.append(title, tier);
      const quote = document.createElement("p");
      quote.className = "route-said";
      const facts = document.createElement("dl");
      facts.className = "route-facts";
      const state = document.createElement("div");
      state.className = "route-state";
      state.textContent = "Answering…";
      root.append(head, quote, facts, state);
      ui.routes.prepend(root);
      card = { root, tier, quote, factsList: facts, facts: new Map(), state };
      call.turns.set(turnId, card);
    }
    if (said) card.quote.textContent = `“${said}”`;
    return card;
  }

  function setFact(turnId, name, value) {
    const card = turnCard(turnId);
    let dd = card.facts.get(name);
    if (!dd) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      dd = document.createElement("dd");
      dd.dataset.fact = name.toLowerCase().replace(/\s+/g, "-");
      card.factsList.append(dt, dd);
      card.facts.set(name, dd);
    }
    dd.textContent = value;
  }

  function addTool(turnId, name, outcome) {
    const card = turnCard(turnId);
    card.tools = card.tools || new Map();
    card.tools.set(name, outcome);
    setFact(turnId, "Tools", [...card.tools].map(([n, o]) => `${n} ${o}`).join(", "));
  }

  function setState(turnId, text, kind) {
    const card = turnCard(turnId);
    card.state.textContent = text;
    card.state.className = `route-state ${kind}`;
    if (kind === "warn") card.root.classList.add("interrupted");
  }

  // ---------------------------------------------------------------- audio levels

  function analyserFor(stream, audioContext) {
    const analyser = audioContext.createAnalyser();
    analyser.fftSize = 1024;
    audioContext.createMediaStreamSource(stream).connect(analyser);
    return analyser;
  }

  function rmsLevel(analyser) {
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    return Math.sqrt(sum / samples.length);
  }

  function meterLoop() {
    if (!call || call.ended) return;
    const level = rmsLevel(call.micAnalyser);
    const db = 20 * Math.log10(Math.max(level, 1e-5)); // -100 .. 0 dBFS
    const percent = Math.min(100, Math.max(0, ((db + 60) / 60) * 100));
    ui.micLevel.style.width = `${percent.toFixed(0)}%`;
    ui.micLevel.parentElement.setAttribute("aria-valuenow", percent.toFixed(0));
    call.meterFrame = requestAnimationFrame(meterLoop);
  }

  // ---------------------------------------------------------------- small view helpers

  function resetView() {
    ui.transcript.replaceChildren();
    ui.routes.replaceChildren();
    ui.cost.textContent = formatUsd(0);
    ui.turns.textContent = "0";
    ui.duration.textContent = "0:00";
    testHooks.events.length = 0;
    testHooks.messages.length = 0;
  }

  function clearEmpty(list) {
    list.querySelectorAll(".empty").forEach((el) => el.remove());
  }

  function scrollToEnd(list) {
    const last = list.lastElementChild;
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "nearest" });
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function setCallButton(kind) {
    ui.call.classList.toggle("hangup", kind === "hangup");
    ui.callLabel.textContent = kind === "hangup" ? "Hang up" : "Call";
  }

  function setCost(usd) {
    ui.cost.textContent = formatUsd(usd);
  }

  function updateDuration() {
    if (!call || call.startedAt === null) return;
    const seconds = Math.floor((performance.now() - call.startedAt) / 1000);
    ui.duration.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function formatUsd(usd) {
    if (!usd) return "$0.00";
    if (usd < 0.01) return `$${usd.toFixed(5)}`;
    return `$${usd.toFixed(4)}`;
  }

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = false;
  }

  function hideError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  // ---------------------------------------------------------------- wiring

  ui.call.addEventListener("click", () => {
    if (call && !call.ended) hangUp();
    else startCall();
  });
  window.addEventListener("pagehide", () => { if (call && !call.ended) hangUp(); });
  loadAgents();
})();
