// AudioWorklet that forwards microphone samples (channel 0) to the page in batches.
class PcmRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.batch = new Float32Array(2048);
    this.filled = 0;
    this.port.onmessage = () => this.flush();
  }

  flush() {
    if (this.filled) this.port.postMessage(this.batch.slice(0, this.filled));
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        this.batch[this.filled++] = channel[i];
        if (this.filled === this.batch.length) this.flush();
      }
    }
    return true;
  }
}

registerProcessor("pcm-recorder", PcmRecorder);
