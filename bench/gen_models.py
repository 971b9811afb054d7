#!/usr/bin/env python3
"""Writes the tiny ONNX graphs that the benchmark runs in onnxruntime-node, the native ceiling
on this machine. Weights are graph inputs, not initializers, so the files stay a few hundred
bytes and both sides of the benchmark get identical data.

Usage: /usr/bin/python3 bench/gen_models.py   (writes bench/models/*.onnx; committed)
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models')


def save(name, nodes, inputs, outputs, opset=16):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name='maskrcnn-ts bench')
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + '.onnx'))


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv(name, n, cin, h, w, cout, k, stride, pad):
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    node = helper.make_node('Conv', ['x', 'w', 'b'], ['y'], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
    save(name, [node], [f32('x', [n, cin, h, w]), f32('w', [cout, cin, k, k]), f32('b', [cout])], [f32('y', [n, cout, oh, ow])])


def main():
    os.makedirs(OUT, exist_ok=True)
    conv('conv_256_3x3_64', 1, 256, 64, 64, 256, 3, 1, 1)
    conv('conv_3_7x7s2_512', 1, 3, 512, 512, 64, 7, 2, 3)
    conv('conv_64_3x3_32', 1, 64, 32, 32, 64, 3, 1, 1)
    deconv = helper.make_node('ConvTranspose', ['x', 'w', 'b'], ['y'], kernel_shape=[2, 2], strides=[2, 2])
    save('deconv_mask_head', [deconv], [f32('x', [100, 256, 14, 14]), f32('w', [256, 256, 2, 2]), f32('b', [256])],
         [f32('y', [100, 256, 28, 28])])
    save('matmul_1024', [helper.make_node('MatMul', ['a', 'b'], ['c'])], [f32('a', [1024, 1024]), f32('b', [1024, 1024])],
         [f32('c', [1024, 1024])])
    # RoIAlign as Mask R-CNN uses it (aligned=False is ONNX's 'output_half_pixel').
    roi = helper.make_node('RoiAlign', ['x', 'rois', 'batch_indices'], ['y'], mode='avg', output_height=7, output_width=7,
                           sampling_ratio=2, spatial_scale=0.25, coordinate_transformation_mode='output_half_pixel')
    save('roi_align_1000', [roi], [f32('x', [1, 256, 200, 272]), f32('rois', [1000, 4]),
                                   helper.make_tensor_value_info('batch_indices', TensorProto.INT64, [1000])],
         [f32('y', [1000, 256, 7, 7])])


if __name__ == '__main__':
    main()
