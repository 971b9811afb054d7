import test from 'tape';
import { mergeAblations, runAblation } from '../../tools/course/loss_ablation.js';

test('loss ablation: a removed term is logged but not trained; the runs share data, seed and order', (t) => {
  const result = runAblation({ iterations: 2, batchSize: 1, trainImages: 3, valImages: 2, seed: 3, runs: ['full', 'loss_mask', 'loss_objectness'] }, 'test');
  t.deepEqual(result.runs.map((r) => r.removed), ['full', 'loss_mask', 'loss_objectness'], 'one run per requested term, in order');
  t.equal(result.hyper.optimizer, 'adamw', "the shapes preset's recipe");
  for (const run of result.runs) {
    t.equal(run.log.length, 2, `${run.removed}: one log record per iteration`);
    t.deepEqual(Object.keys(run.log[0]!.losses).sort(), ['loss_box_reg', 'loss_classifier', 'loss_mask', 'loss_objectness', 'loss_rpn_box_reg'], `${run.removed}: all five terms logged, the removed one included`);
    // Two iterations rarely detect anything: the evaluation of no detections is AP 0, as pycocotools'.
    t.ok(run.bbox !== null && run.bbox.length === 12 && run.detections! >= 0, `${run.removed}: pycocotools' 12 box numbers (${run.detections} detections)`);
    t.ok(run.segm !== null && run.segm.length === 12, `${run.removed}: pycocotools' 12 mask numbers likewise`);
    t.ok(run.log[0]!.lr > 0 && Number.isFinite(run.trainSeconds) && Number.isFinite(run.evalSeconds), `${run.removed}: learning rate and times recorded`);
  }
  const [full, noMask, noObj] = result.runs as [typeof result.runs[0], typeof result.runs[0], typeof result.runs[0]];
  t.deepEqual(noMask.log[0]!.losses, full.log[0]!.losses, 'iteration 1 is the same step in every run (same weights, batch and sampling)');
  t.deepEqual(noObj.log[0]!.losses, full.log[0]!.losses, 'iteration 1 is the same step without the objectness term too');
  t.notDeepEqual(noMask.log[1]!.losses, full.log[1]!.losses, 'removing L_mask changes the update: iteration 2 differs');
  t.notDeepEqual(noObj.log[1]!.losses, noMask.log[1]!.losses, 'removing another term changes it differently');
  const merged = mergeAblations([{ ...result, runs: [result.runs[2]!, result.runs[0]!] }, { ...result, runs: [result.runs[1]!] }]);
  t.deepEqual(merged.runs.map((r) => r.removed), ['full', 'loss_objectness', 'loss_mask'], 'merge: the runs of two files, full first, then the terms in torchvision order');
  t.deepEqual(merged.settings.runs, ['full', 'loss_objectness', 'loss_mask'], 'merge: the settings list the runs');
  t.throws(() => mergeAblations([result, result]), /in two files/, 'merge: a run in two files is refused');
  t.throws(() => mergeAblations([result, { ...result, settings: { ...result.settings, seed: 4 } }]), /different settings/, 'merge: files of different settings are refused');
  t.throws(() => runAblation({ iterations: 1, batchSize: 1, trainImages: 1, valImages: 1, seed: 0, runs: ['loss_nothing'] }, 'test'), /unknown run "loss_nothing"/, 'an unknown term is refused');
  t.end();
});
