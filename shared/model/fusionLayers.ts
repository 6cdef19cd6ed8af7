/**
 * The custom layers of the fusion model: the CNN stem's feature map becomes a token sequence, a learnable
 * class token and position embeddings are added, and pre-norm transformer encoder blocks mix the tokens.
 * Each layer is registered with tfjs serialization, so a saved model loads back with tf.loadLayersModel.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { gelu, layerNorm, multiHeadAttention } from "./encoderOps.js";

type Kwargs = Record<string, unknown>;
type Initializer = ReturnType<typeof tfl.initializers.zeros>;
type Shape = (number | null)[];

const { Layer } = tfl.layers;
type LayerArgs = ConstructorParameters<typeof Layer>[0];
type LayerVariable = ReturnType<InstanceType<typeof Layer>["addWeight"]>;

function first(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function asShape(s: Shape | Shape[]): Shape {
  return Array.isArray(s[0]) ? (s[0] as Shape) : (s as Shape);
}

const zeros = () => tfl.initializers.zeros();
const ones = () => tfl.initializers.ones();
const small = () => tfl.initializers.truncatedNormal({ stddev: 0.02 });
const glorot = () => tfl.initializers.glorotUniform({});

/** Prepends a learnable class token to [batch, tokens, dim] and adds learnable position embeddings. */
export class ClassTokenAndPosition extends Layer {
  static readonly className = "FedfusionClassTokenAndPosition";
  private classToken!: LayerVariable;
  private position!: LayerVariable;

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override build(inputShape: Shape | Shape[]): void {
    const [, tokens, dim] = asShape(inputShape) as number[];
    this.classToken = this.addWeight("class_token", [1, 1, dim], "float32", small());
    this.position = this.addWeight("position", [1, tokens + 1, dim], "float32", small());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, tokens, dim] = asShape(inputShape);
    return [batch, (tokens as number) + 1, dim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = first(inputs) as tf.Tensor3D;
      // Broadcast rather than tf.tile: tile's gradient is one slice + add per repetition in tfjs.
      const cls = tf.add(tf.zeros([x.shape[0], 1, x.shape[2]]), this.classToken.read());
      return tf.add(tf.concat([cls, x], 1), this.position.read());
    });
  }
}

/**
 * Layer normalisation over the last axis with learnable scale and offset. (tfjs-layers' own tiles its
 * scale and offset to the input's shape, which costs more than the normalisation itself on CPU backends.)
 */
export class TokenLayerNorm extends Layer {
  static readonly className = "FedfusionTokenLayerNorm";
  private gamma!: LayerVariable;
  private beta!: LayerVariable;

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = asShape(inputShape);
    const dim = s[s.length - 1] as number;
    this.gamma = this.addWeight("gamma", [dim], "float32", ones());
    this.beta = this.addWeight("beta", [dim], "float32", zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return asShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => layerNorm(first(inputs), this.gamma.read(), this.beta.read()));
  }
}

/** Takes the class token's output: [batch, tokens, dim] -> [batch, dim]. */
export class ClassTokenPool extends Layer {
  static readonly className = "FedfusionClassTokenPool";

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , dim] = asShape(inputShape);
    return [batch, dim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = first(inputs);
      return tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]);
    });
  }
}

export interface TransformerBlockArgs extends NonNullable<LayerArgs> {
  heads: number;
  mlpRatio: number;
  dropout?: number;
}

/**
 * One pre-norm transformer encoder block:
 *   x = x + MHSA(LN(x));  x = x + MLP(LN(x))   with MLP = dense(r·d, gelu) -> dense(d).
 * Written with plain tf ops so tfjs autodiff gives its gradients on every backend.
 */
export class TransformerEncoderBlock extends Layer {
  static readonly className = "FedfusionTransformerEncoderBlock";
  readonly heads: number;
  readonly mlpRatio: number;
  readonly dropout: number;
  private w: Record<string, LayerVariable> = {};

  constructor(args: TransformerBlockArgs) {
    super(args);
    this.heads = args.heads;
    this.mlpRatio = args.mlpRatio;
    this.dropout = args.dropout ?? 0;
  }

  override build(inputShape: Shape | Shape[]): void {
    const dim = asShape(inputShape)[2] as number;
    if (dim % this.heads !== 0) throw new Error(`token dimension ${dim} is not divisible by ${this.heads} heads`);
    const hidden = Math.round(dim * this.mlpRatio);
    const add = (name: string, shape: number[], init: Initializer) =>
      (this.w[name] = this.addWeight(name, shape, "float32", init));
    add("ln1_gamma", [dim], ones());
    add("ln1_beta", [dim], zeros());
    for (const p of ["query", "key", "value", "out"]) {
      add(`${p}_kernel`, [dim, dim], glorot());
      add(`${p}_bias`, [dim], zeros());
    }
    add("ln2_gamma", [dim], ones());
    add("ln2_beta", [dim], zeros());
    add("mlp1_kernel", [dim, hidden], glorot());
    add("mlp1_bias", [hidden], zeros());
    add("mlp2_kernel", [hidden, dim], glorot());
    add("mlp2_bias", [dim], zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return asShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const training = kwargs["training"] === true;
      const x = first(inputs) as tf.Tensor3D;
      const [batch, tokens, dim] = x.shape;
      const v = (name: string) => this.w[name].read();
      const drop = (t: tf.Tensor) => (training && this.dropout > 0 ? tf.dropout(t, this.dropout) : t);
      // Dense over the last axis of a [batch·tokens, dim] matrix; one fused kernel (product + bias).
      const dense = (t: tf.Tensor2D, name: string) => tf.fused.matMul({ a: t, b: v(`${name}_kernel`) as tf.Tensor2D, bias: v(`${name}_bias`) });

      const flat = tf.reshape(x, [batch * tokens, dim]) as tf.Tensor2D;
      const h1 = layerNorm(flat, v("ln1_gamma"), v("ln1_beta")) as tf.Tensor2D;
      const attended = multiHeadAttention(dense(h1, "query") as tf.Tensor2D, dense(h1, "key") as tf.Tensor2D, dense(h1, "value") as tf.Tensor2D, batch, this.heads);
      const x1 = tf.add(flat, drop(dense(attended, "out"))) as tf.Tensor2D;

      const h2 = layerNorm(x1, v("ln2_gamma"), v("ln2_beta")) as tf.Tensor2D;
      const mlp = dense(gelu(dense(h2, "mlp1")) as tf.Tensor2D, "mlp2");
      return tf.reshape(tf.add(x1, drop(mlp)), [batch, tokens, dim]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), heads: this.heads, mlpRatio: this.mlpRatio, dropout: this.dropout };
  }
}

for (const cls of [ClassTokenAndPosition, ClassTokenPool, TransformerEncoderBlock, TokenLayerNorm]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}
