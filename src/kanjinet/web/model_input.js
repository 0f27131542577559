// kanjinet/preprocess/model_input.py in JavaScript: a normalised image as the model's input.

/** The model's input tensor data: float32 (1, 1, size, size) = uint8 / 255, ink = 1. */
export function modelInput(normalized) {
  return Float32Array.from(normalized, (v) => v / 255);
}
