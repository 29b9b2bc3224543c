// The web bridge page: a chat over one WebSocket and a form that asks the REP service.
"use strict";

const HISTORY = 200; // chat lines kept on the page; older ones are removed
const RETRY_FIRST = 500; // ms before the first reconnect; doubles up to RETRY_MAX
const RETRY_MAX = 10000;
const ASK_TIMEOUT = 10000; // ms the page waits for /api/ask (the server answers sooner)
const CLOSED = {
  1001: "the server is restarting",
  1009: "that message was too big for the server",
};
const ASK_ERRORS = {
  503: "The ask service is not available right now.",
  504: "The ask service did not answer in time. Try again in a moment.",
};

const $ = (id) => document.getElementById(id);
const maxText = Number(document.body.dataset.maxText);
let socket = null;
let me = null;
let retries = 0;

const length = (text) => [...text].length; // code points, as the server counts

function setStatus(state, label) {
  $("status").dataset.state = state;
  $("status").textContent = label;
  updateSend();
}

function addLine(kind, text, who = null) {
  const log = $("log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  const li = document.createElement("li");
  li.className = kind;
  if (who !== null) {
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who === me ? `${who} (you)` : who;
    li.append(name);
    if (who === me) li.classList.add("mine");
  }
  li.append(document.createTextNode(text));
  log.append(li);
  while (log.children.length > HISTORY) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function connect() {
  setStatus("connecting", "connecting…");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "welcome") {
      me = message.name;
      retries = 0;
      setStatus("online", `online as ${me}`);
    } else if (message.type === "chat") {
      addLine("chat", message.text, message.from);
    } else if (message.type === "error") {
      addLine("error", message.error);
    }
  };
  socket.onclose = (event) => {
    const delay = Math.min(RETRY_MAX, RETRY_FIRST * 2 ** retries) * (0.5 + Math.random() / 2);
    retries += 1;
    const why = CLOSED[event.code] || "the connection was lost";
    const seconds = Math.max(1, Math.round(delay / 1000));
    addLine("notice", `Disconnected: ${why}. Reconnecting in ${seconds} s…`);
    setStatus("offline", `offline, reconnecting in ${seconds} s`);
    socket = null;
    setTimeout(connect, delay);
  };
}

function updateSend() {
  const used = length($("text").value);
  const count = $("count");
  count.textContent = `${used} / ${maxText}`;
  count.classList.toggle("over", used > maxText);
  const online = socket !== null && socket.readyState === WebSocket.OPEN && me !== null;
  $("send").disabled = !online || used > maxText || $("text").value.trim() === "";
}

$("text").addEventListener("input", updateSend);

$("chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (text.trim() === "" || length(text) > maxText || socket === null) return;
  socket.send(text);
  $("text").value = "";
  updateSend();
});

function showAnswer(kind, text) {
  const answer = $("answer");
  answer.className = kind;
  answer.textContent = text;
}

async function ask(question) {
  const response = await fetch("/api/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ q: question }),
    signal: AbortSignal.timeout(ASK_TIMEOUT),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(ASK_ERRORS[response.status] || body.error || `Error ${response.status}.`);
  return body;
}

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("q").value.trim();
  if (question === "") return showAnswer("error", "Type a question first.");
  if (length(question) > maxText) {
    return showAnswer("error", `A question is at most ${maxText} characters.`);
  }
  const button = $("ask-button");
  button.disabled = true;
  button.textContent = "asking…";
  showAnswer("loading", "Waiting for the ask service…");
  try {
    const reply = await ask(question);
    const words = reply.words === 1 ? "1 word" : `${reply.words} words`;
    showAnswer("ok", `“${reply.q}” has ${words}. In capitals: ${reply.upper}`);
  } catch (error) {
    const text = error.name === "TypeError" ? "Cannot reach the server. Is it running?"
      : error.name === "TimeoutError" ? ASK_ERRORS[504] : error.message;
    showAnswer("error", text);
  } finally {
    button.disabled = false;
    button.textContent = "ask";
  }
});

const STATS_EVERY = 1000; // ms between two reads of /api/stats

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(1)} ${units[unit]}`;
}

function cell(row, text, className = "") {
  const td = row.insertCell();
  td.textContent = text;
  td.className = className;
}

function showStats(stats) {
  const body = $("sockets").tBodies[0];
  body.replaceChildren();
  let traffic = true;
  for (const s of stats.sockets) {
    const row = body.insertRow();
    cell(row, s.name);
    cell(row, s.socket_type);
    row.cells[1].title = s.kind === "Socket" ? "a future socket" : "a ZMQStream";
    traffic = traffic && s.traffic;
    for (const [messages, size] of [[s.messages_in, s.bytes_in], [s.messages_out, s.bytes_out]]) {
      cell(row, s.traffic ? `${messages.toLocaleString()} / ${bytes(size)}` : "–", "num");
    }
    cell(row, `${s.queued} (${s.queued_peak})`, "num");
    cell(row, s.sends_waited.toLocaleString(), "num");
    cell(row, s.callback_errors.toLocaleString(), s.callback_errors ? "num bad" : "num");
    cell(row, s.batches.toLocaleString(), "num");
  }
  const b = stats.bridge;
  const note = `Bridge: ${b.slow_disconnects} slow browsers disconnected; asks refused `
    + `while busy ${b.asks_busy}, not taken by the service ${b.asks_unsent}, `
    + `timed out ${b.asks_timed_out}, too many from one client ${b.asks_limited}.`;
  $("sockets-note").className = "hint";
  $("sockets-note").textContent = traffic ? note : `${note} Messages and bytes are not being counted.`;
}

async function refreshStats() {
  try {
    const response = await fetch("/api/stats", { signal: AbortSignal.timeout(STATS_EVERY * 3) });
    if (!response.ok) throw new Error(`Error ${response.status}`);
    showStats(await response.json());
  } catch (error) {
    $("sockets-note").className = "hint error";
    $("sockets-note").textContent = "The figures are not available: the server is not answering.";
  } finally {
    setTimeout(refreshStats, STATS_EVERY);
  }
}

connect();
refreshStats();
