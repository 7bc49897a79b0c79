// emorec web page: plain JavaScript, no build step. Talks to /v1/face and /v1/voice.
"use strict";

(() => {
  const COLORS = {
    neutral: "#7d8590", calm: "#2a9d8f", happy: "#d9a21b", sad: "#3d7dd8", angry: "#d64545",
    fear: "#8e5cd9", disgust: "#4f9a34", surprise: "#ee7d1f", contempt: "#9c6b4e",
  };
  const LIVE_INTERVAL_MS = 300;   // live webcam: one frame every few hundred ms
  const LIVE_MAX_WIDTH = 640;     // frames are downscaled before upload
  const MAX_RECORD_SECONDS = 30;  // the server accepts up to its own limit (60 s by default)
  const DISPLAY_MAX_WIDTH = 720;

  const $ = (id) => document.getElementById(id);
  const color = (label) => COLORS[label] || "#555";
  const pct = (p) => `${(100 * p).toFixed(0)}%`;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showMessage(node, text, kind) {
    node.textContent = text || "";
    node.dataset.kind = kind || "info";
    node.hidden = !text;
  }

  // ---------- talking to the server ----------

  async function postFile(endpoint, blob, filename) {
    const form = new FormData();
    form.append("file", blob, filename);
    let response;
    try {
      response = await fetch(endpoint, { method: "POST", body: form });
    } catch (err) {
      return { ok: false, status: 0, code: "network", message: "Cannot reach the emorec server. Is it still running?" };
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (response.ok && body) return { ok: true, status: response.status, body };
    return { ok: false, status: response.status, code: body && body.error, message: explain(response, body) };
  }

  function explain(response, body) {
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    if (response.status === 503 && body && body.error === "busy") {
      const wait = response.headers.get("Retry-After") || "a few";
      return `The server is busy right now. Please try again in ${wait} s.`;
    }
    if (response.status === 503) return `Not available: ${detail}`;
    if ([400, 413, 415, 422].includes(response.status)) return `File rejected: ${detail}`;
    if (response.status === 504 || response.status === 408) return `Took too long: ${detail}`;
    return `Server error: ${detail}`;
  }

  async function checkServer() {
    const status = $("server-status");
    try {
      const response = await fetch("/readyz");
      const body = await response.json();
      if (response.ok) {
        status.textContent = "server ready";
        status.dataset.state = "ready";
      } else {
        status.textContent = body.detail || "server not ready";
        status.dataset.state = "not-ready";
      }
    } catch (err) {
      status.textContent = "server unreachable";
      status.dataset.state = "down";
    }
  }

  // ---------- probability bars ----------

  function bars(scores) {
    const list = el("ul", "bars");
    Object.entries(scores || {})
      .sort((a, b) => b[1] - a[1])
      .forEach(([label, p]) => {
        const item = el("li", "bar");
        item.dataset.label = label;
        const track = el("span", "bar-track");
        const fill = el("span", "bar-fill");
        fill.style.width = `${(100 * p).toFixed(1)}%`;
        fill.style.background = color(label);
        track.append(fill);
        item.append(el("span", "bar-label", label), track, el("span", "bar-value", `${(100 * p).toFixed(1)}%`));
        list.append(item);
      });
    return list;
  }

  // ---------- faces ----------

  const faceMessage = $("face-message");
  const faceCanvas = $("face-canvas");
  const faceResults = $("face-results");

  function drawBoxes(ctx, faces, scale) {
    faces.forEach((face, i) => {
      const [x, y, w, h] = face.box.map((v) => v * scale);
      const c = color(face.label);
      ctx.lineWidth = 3;
      ctx.strokeStyle = c;
      ctx.strokeRect(x, y, w, h);
      const text = `${i + 1}. ${face.label} ${pct(face.score)}`;
      ctx.font = "bold 15px system-ui, sans-serif";
      const width = ctx.measureText(text).width + 10;
      const top = y >= 22 ? y - 22 : y + h;
      ctx.fillStyle = c;
      ctx.fillRect(x - 1.5, top, width, 22);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, x + 4, top + 16);
    });
  }

  function drawPhoto(source, width, height, faces) {
    const scale = Math.min(1, DISPLAY_MAX_WIDTH / width);
    faceCanvas.width = Math.round(width * scale);
    faceCanvas.height = Math.round(height * scale);
    const ctx = faceCanvas.getContext("2d");
    ctx.drawImage(source, 0, 0, faceCanvas.width, faceCanvas.height);
    drawBoxes(ctx, faces, scale);
    faceCanvas.dataset.faces = String(faces.length);
  }

  function clearPhoto() {
    faceCanvas.width = 0;
    faceCanvas.height = 0;
    faceCanvas.dataset.faces = "0";
  }

  function renderFaces(result) {
    faceResults.replaceChildren();
    if (!result.faces.length) {
      faceResults.dataset.state = "noface";
      showMessage(faceMessage, "No face found in this image. Try a well-lit photo with a face looking at the camera.", "warn");
      return;
    }
    result.faces.forEach((face, i) => {
      const card = el("div", "face-card");
      card.dataset.label = face.label;
      const title = el("h3", "face-title");
      const swatch = el("span", "swatch");
      swatch.style.background = color(face.label);
      title.append(swatch, `Face ${i + 1}: ${face.label} (${pct(face.score)})`);
      card.append(title, bars(face.scores));
      faceResults.append(card);
    });
    faceResults.dataset.state = "done";
    const n = result.faces.length;
    showMessage(faceMessage, `${n} face${n === 1 ? "" : "s"} found in ${result.path}.`, "ok");
  }

  async function loadPreview(blob) {
    // The browser's decoder applies EXIF orientation, as the server does.
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
      return img;
    } catch (err) {
      return null;
    } finally {
      setTimeout(() => URL.revokeObjectURL(url), 0);
    }
  }

  async function analyseImage(blob, filename, preview) {
    faceResults.dataset.state = "loading";
    showMessage(faceMessage, `Analysing ${filename}…`, "info");
    const [reply, image] = await Promise.all([
      postFile("/v1/face", blob, filename),
      preview ? Promise.resolve(preview) : loadPreview(blob),
    ]);
    if (!reply.ok) {
      faceResults.replaceChildren();
      faceResults.dataset.state = "error";
      clearPhoto();
      showMessage(faceMessage, reply.message, "error");
      return;
    }
    const faces = reply.body.faces || [];
    if (image) {
      drawPhoto(image, image.naturalWidth || image.width, image.naturalHeight || image.height, faces);
    } else {
      clearPhoto();
    }
    renderFaces(reply.body);
    if (!image) showMessage(faceMessage, `${faceMessage.textContent} (This browser cannot preview the image.)`, "ok");
  }

  // ---------- webcam ----------

  const video = $("camera-video");
  const overlay = $("camera-overlay");
  let cameraStream = null;
  let liveTimer = null;
  let liveBusy = false;

  function mediaError(err, device) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return `Permission to use the ${device} was denied. Allow ${device} access for this site in the browser settings, then try again.`;
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
      return `No ${device} was found. Connect one and try again.`;
    }
    if (name === "NotReadableError") return `The ${device} is busy in another application. Close it and try again.`;
    return `Could not start the ${device}: ${(err && (err.message || err.name)) || "unknown error"}.`;
  }

  function mediaAvailable(messageNode, device) {
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) return true;
    showMessage(messageNode, `This browser cannot use the ${device} here: it needs https or http://localhost.`, "error");
    return false;
  }

  function setCameraButtons(on) {
    $("camera-start").disabled = on;
    $("camera-snapshot").disabled = !on;
    $("camera-live").disabled = !on;
    $("camera-stop").disabled = !on;
    $("camera-view").hidden = !on;
  }

  async function startCamera() {
    if (!mediaAvailable(faceMessage, "camera")) return;
    try {
      cameraStream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (err) {
      showMessage(faceMessage, mediaError(err, "camera"), "error");
      return;
    }
    video.srcObject = cameraStream;
    await video.play().catch(() => {});
    setCameraButtons(true);
    showMessage(faceMessage, "Webcam on. Take a snapshot or start live mode.", "info");
  }

  function stopCamera() {
    stopLive();
    if (cameraStream) cameraStream.getTracks().forEach((t) => t.stop());
    cameraStream = null;
    video.srcObject = null;
    setCameraButtons(false);
  }

  function grabFrame(maxWidth) {
    const w = video.videoWidth;
    const h = video.videoHeight;
    const scale = maxWidth ? Math.min(1, maxWidth / w) : 1;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  const toJpeg = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));

  async function snapshot() {
    if (!video.videoWidth) return;
    const frame = grabFrame();
    const blob = await toJpeg(frame, 0.92);
    await analyseImage(blob, "snapshot.jpg", frame);
  }

  async function liveTick() {
    if (liveBusy || !video.videoWidth) return;
    liveBusy = true;
    try {
      const frame = grabFrame(LIVE_MAX_WIDTH);
      const blob = await toJpeg(frame, 0.8);
      const reply = await postFile("/v1/face", blob, "live.jpg");
      if (!liveTimer) return; // stopped meanwhile
      overlay.width = frame.width;
      overlay.height = frame.height;
      const ctx = overlay.getContext("2d");
      ctx.clearRect(0, 0, overlay.width, overlay.height);
      if (reply.ok) {
        const faces = reply.body.faces || [];
        drawBoxes(ctx, faces, 1);
        overlay.dataset.faces = String(faces.length);
        showMessage(faceMessage, faces.length ? `Live: ${faces.map((f) => f.label).join(", ")}` : "Live: no face found", "info");
      } else if (reply.status === 503) {
        showMessage(faceMessage, `${reply.message} Live mode skips frames meanwhile.`, "warn");
      } else {
        showMessage(faceMessage, reply.message, "error");
        stopLive();
      }
    } finally {
      liveBusy = false;
    }
  }

  function startLive() {
    if (liveTimer) return;
    liveTimer = setInterval(liveTick, LIVE_INTERVAL_MS);
    $("camera-live").setAttribute("aria-pressed", "true");
    $("camera-live").textContent = "Stop live mode";
  }

  function stopLive() {
    if (liveTimer) clearInterval(liveTimer);
    liveTimer = null;
    $("camera-live").setAttribute("aria-pressed", "false");
    $("camera-live").textContent = "Live mode";
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  }

  // ---------- voice ----------

  const voiceMessage = $("voice-message");
  const voiceResults = $("voice-results");
  const player = $("voice-player");
  let recording = null;

  function renderVoice(result) {
    voiceResults.replaceChildren();
    if (result.error || !result.label) {
      voiceResults.dataset.state = "noresult";
      showMessage(voiceMessage, `No emotion estimate for ${result.path}: ${result.error || "no speech found"}.`, "warn");
      return;
    }
    const overall = el("div", "voice-overall");
    overall.dataset.label = result.label;
    const title = el("h3", "voice-title");
    const swatch = el("span", "swatch");
    swatch.style.background = color(result.label);
    title.append(swatch, `Overall: ${result.label} (${pct(result.score)})`);
    overall.append(title, bars(result.scores));
    voiceResults.append(overall);

    const segments = result.segments || [];
    if (segments.length) {
      // The timeline spans the whole recording when the player knows its length.
      const known = Number.isFinite(player.duration) ? player.duration : 0;
      const total = Math.max(known, ...segments.map((s) => s.end));
      const section = el("div", "timeline-box");
      section.append(el("h3", "", "Timeline"));
      const line = el("div", "timeline");
      segments.forEach((seg) => {
        const block = el("div", "segment");
        block.dataset.label = seg.label || "";
        block.style.left = `${(100 * seg.start) / total}%`;
        block.style.width = `${Math.max(0.5, (100 * (seg.end - seg.start)) / total)}%`;
        block.style.background = color(seg.label);
        block.title = `${seg.start.toFixed(1)}–${seg.end.toFixed(1)} s: ${seg.label} (${pct(seg.score || 0)})`;
        block.textContent = seg.label || "";
        line.append(block);
      });
      const axis = el("div", "axis");
      axis.append(el("span", "", "0 s"), el("span", "", `${total.toFixed(1)} s`));
      const table = el("table", "segments");
      const head = el("tr");
      ["from", "to", "emotion", "score"].forEach((h) => head.append(el("th", "", h)));
      table.append(head);
      segments.forEach((seg) => {
        const row = el("tr");
        row.append(el("td", "", `${seg.start.toFixed(2)} s`), el("td", "", `${seg.end.toFixed(2)} s`),
          el("td", "", seg.label || "–"), el("td", "", seg.score != null ? pct(seg.score) : "–"));
        table.append(row);
      });
      section.append(line, axis, table);
      voiceResults.append(section);
    }
    voiceResults.dataset.state = "done";
    showMessage(voiceMessage, `${result.path}: ${segments.length} speech segment${segments.length === 1 ? "" : "s"} analysed.`, "ok");
  }

  async function analyseAudio(blob, filename) {
    voiceResults.dataset.state = "loading";
    showMessage(voiceMessage, `Analysing ${filename}…`, "info");
    const url = URL.createObjectURL(blob);
    if (player.dataset.url) URL.revokeObjectURL(player.dataset.url);
    player.dataset.url = url;
    player.src = url;
    player.hidden = false;
    const reply = await postFile("/v1/voice", blob, filename);
    if (!reply.ok) {
      voiceResults.replaceChildren();
      voiceResults.dataset.state = "error";
      showMessage(voiceMessage, reply.message, "error");
      return;
    }
    renderVoice(reply.body);
  }

  // Microphone: Chromium's MediaRecorder only makes WebM/Opus, which libsndfile cannot
  // read, so the page captures raw PCM with the Web Audio API and uploads a WAV file.
  async function startRecording() {
    if (recording || !mediaAvailable(voiceMessage, "microphone")) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      showMessage(voiceMessage, mediaError(err, "microphone"), "error");
      return;
    }
    let ctx;
    let source;
    try {
      ctx = new AudioContext({ sampleRate: 16000 });
      source = ctx.createMediaStreamSource(stream);
    } catch (err) { // some browsers cannot resample a microphone: record at the device rate
      if (ctx) ctx.close();
      ctx = new AudioContext();
      source = ctx.createMediaStreamSource(stream);
    }
    const chunks = [];
    let node;
    if (ctx.audioWorklet && window.AudioWorkletNode) {
      await ctx.audioWorklet.addModule("/static/recorder-worklet.js");
      node = new AudioWorkletNode(ctx, "pcm-recorder", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1 });
      node.port.onmessage = (event) => chunks.push(event.data);
    } else {
      node = ctx.createScriptProcessor(4096, 1, 1);
      node.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    }
    const mute = ctx.createGain();
    mute.gain.value = 0; // keep the graph pulled without playing the microphone back
    source.connect(node);
    node.connect(mute);
    mute.connect(ctx.destination);
    const started = performance.now();
    const timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      $("mic-timer").textContent = `${seconds.toFixed(1)} s`;
      if (seconds >= MAX_RECORD_SECONDS) stopRecording();
    }, 100);
    recording = { stream, ctx, node, chunks, timer };
    $("mic-record").disabled = true;
    $("mic-stop").disabled = false;
    $("mic-timer").hidden = false;
    showMessage(voiceMessage, "Recording… speak, then press “Stop and analyse”.", "info");
  }

  async function stopRecording() {
    if (!recording) return;
    const { stream, ctx, node, chunks, timer } = recording;
    recording = null;
    clearInterval(timer);
    if (node.port) node.port.postMessage("flush");
    await new Promise((resolve) => setTimeout(resolve, 60));
    node.disconnect();
    stream.getTracks().forEach((t) => t.stop());
    const rate = ctx.sampleRate;
    await ctx.close();
    $("mic-record").disabled = false;
    $("mic-stop").disabled = true;
    $("mic-timer").hidden = true;
    const length = chunks.reduce((n, c) => n + c.length, 0);
    if (length < rate * 0.5) {
      showMessage(voiceMessage, "The recording is too short. Record at least one second of speech.", "warn");
      return;
    }
    const samples = new Float32Array(length);
    let offset = 0;
    chunks.forEach((c) => { samples.set(c, offset); offset += c.length; });
    await analyseAudio(encodeWav(samples, rate), "recording.wav");
  }

  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const view = new DataView(buffer);
    const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
    text(0, "RIFF");
    view.setUint32(4, 36 + samples.length * 2, true);
    text(8, "WAVE");
    text(12, "fmt ");
    view.setUint32(16, 16, true);
    view.setUint16(20, 1, true); // PCM
    view.setUint16(22, 1, true); // mono
    view.setUint32(24, rate, true);
    view.setUint32(28, rate * 2, true);
    view.setUint16(32, 2, true);
    view.setUint16(34, 16, true);
    text(36, "data");
    view.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  // ---------- wiring ----------

  function wireDrop(zone, input, handle) {
    input.addEventListener("change", () => {
      if (input.files && input.files[0]) handle(input.files[0]);
      input.value = ""; // choosing the same file again still triggers
    });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) handle(file);
    });
    zone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
  }

  // A file dropped outside the drop zones must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  wireDrop($("face-drop"), $("face-file"), (file) => analyseImage(file, file.name));
  wireDrop($("voice-drop"), $("voice-file"), (file) => analyseAudio(file, file.name));
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  $("camera-snapshot").addEventListener("click", snapshot);
  $("camera-live").addEventListener("click", () => (liveTimer ? stopLive() : startLive()));
  $("mic-record").addEventListener("click", startRecording);
  $("mic-stop").addEventListener("click", stopRecording);
  checkServer();
})();
