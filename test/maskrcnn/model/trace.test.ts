import test from 'tape';
import { Tensor, zeros } from '../../../lib/tensor/index.js';
import { LOSS_TERMS, StageClock, TIMED_STAGES, TRACE_STAGES, TraceRecorder, isTrainingTrace, parseTraceKey, stageKeys, traceKey, type TraceKey, type TraceStage } from '../../../lib/maskrcnn/index.js';
import { fixtureTraces } from '../fixture_traces.js';

test('trace: every key of a real evaluation and training trace is a typed stage, and every stage is traced', (t) => {
  const { evalTrace, trainTrace } = fixtureTraces();
  const seen = new Set<TraceStage>();
  for (const [trace, training] of [[evalTrace, false], [trainTrace, true]] as const) {
    t.equal(isTrainingTrace(trace), training, `isTrainingTrace: ${training}`);
    const unknown = [...trace.keys()].filter((k) => parseTraceKey(k) === undefined);
    t.deepEqual(unknown, [], `${training ? 'training' : 'evaluation'}: every key parses (${trace.size} keys)`);
    const wrongMode = [...trace.keys()].filter((k) => {
      const { when } = TRACE_STAGES[parseTraceKey(k)!.stage];
      return training ? when === 'eval' : when === 'train';
    });
    t.deepEqual(wrongMode, [], `${training ? 'training' : 'evaluation'}: no stage of the other mode`);
    for (const k of trace.keys()) {
      const p = parseTraceKey(k)!;
      seen.add(p.stage);
      const index = p.index === '' ? [] : [p.index];
      t.equal(traceKey(p.stage as 'fpn', training, ...(index as ['0'])), k, `traceKey round-trips ${k}`);
    }
  }
  t.deepEqual(Object.keys(TRACE_STAGES).filter((s) => !seen.has(s as TraceStage)), [], 'every stage of TRACE_STAGES is in one of the two traces');
  t.deepEqual(stageKeys(evalTrace, 'fpn'), ['fpn.0', 'fpn.1', 'fpn.2', 'fpn.3', 'fpn.pool'], 'stageKeys: the FPN levels in order');
  t.deepEqual(
    stageKeys(trainTrace, 'loss').map((k) => k.slice(5)),
    [...LOSS_TERMS],
    'the five loss terms, in LOSS_TERMS order',
  );
  t.end();
});

test('trace: keys are typed (a misspelt stage does not compile), the recorder prefixes training stages, parseTraceKey rejects strangers', (t) => {
  const ok: TraceKey[] = ['transform.images', 'train.rpn.anchors.0', 'rpn.anchors.1', 'fpn.pool', 'loss.loss_mask', 'train.roi_heads.mask_targets', 'output.masks.0'];
  // @ts-expect-error a misspelt stage is not a TraceKey
  const misspelt: TraceKey = 'rpn.proposal.0';
  // @ts-expect-error an evaluation-only stage has no training key
  const wrongMode: TraceKey = 'train.output.boxes.0';
  // @ts-expect-error a per-image stage needs its image
  traceKey('rpn.proposals', false);
  t.deepEqual(ok.map((k) => parseTraceKey(k)?.stage), ['transform.images', 'rpn.anchors', 'rpn.anchors', 'fpn', 'loss', 'roi_heads.mask_targets', 'output.masks'], 'parseTraceKey: the stages');
  t.deepEqual([misspelt, wrongMode, 'loss.total', 'fpn.x', 'transform.images.0', 'rpn.proposals'].map((k) => parseTraceKey(k)), [undefined, undefined, undefined, undefined, undefined, undefined], 'parseTraceKey: strangers are undefined');
  const one = zeros([1]);
  const ev = new TraceRecorder(false);
  ev.set('rpn.objectness_flat', one);
  ev.set('roi_heads.mask_targets', one);
  ev.setEach('fpn', new Map([['0', one], ['pool', one]]));
  const tr = new TraceRecorder(true);
  tr.set('rpn.objectness_flat', one);
  tr.set('transform.images', one);
  tr.setEach('rpn.proposals', [one, one]);
  t.deepEqual([...ev.tensors.keys()], ['rpn.objectness_flat', 'train.roi_heads.mask_targets', 'fpn.0', 'fpn.pool'], 'evaluation keys (a training-only stage keeps its train. prefix)');
  t.deepEqual([...tr.tensors.keys()], ['train.rpn.objectness_flat', 'transform.images', 'train.rpn.proposals.0', 'train.rpn.proposals.1'], 'training keys');
  t.throws(() => ev.setEach('transform.images', [one]), /kept once, not per image or level/, 'setEach on a stage kept once is refused');
  t.end();
});

test('trace: StageClock adds the milliseconds of each timed stage, and nothing without a record', (t) => {
  const timings: Record<string, number> = {};
  const clock = new StageClock(timings);
  t.equal(clock.time('rpn', () => 7), 7, 'returns what the stage returns');
  clock.time('rpn', () => new Tensor(new Float32Array(1000).fill(1), [1000]).sum());
  t.deepEqual(Object.keys(timings), ['rpn'], 'one stage timed');
  t.ok(timings['rpn']! >= 0, 'milliseconds added');
  t.equal(new StageClock().time('transform', () => 3), 3, 'no record: just runs');
  t.deepEqual([...TIMED_STAGES], ['transform', 'backbone.body', 'backbone.fpn', 'rpn', 'roi_heads', 'postprocess'], 'the timed stages, in order');
  t.end();
});
