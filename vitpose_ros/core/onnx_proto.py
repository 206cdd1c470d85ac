"""A small ONNX protobuf writer and field splitter, so the runtime can compose graphs at load time
without the ``onnx`` package (the core layer imports numpy, OpenCV and onnxruntime only).

Only what ``device_graph`` needs: nodes with int/float/string/ints/floats/tensor attributes,
constant tensors, value infos with static or named dimensions, graphs and models. Field numbers
are those of onnx/onnx.proto3 (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto, TypeProto.Tensor, TensorShapeProto, OperatorSetIdProto). The splitter reads one
message level into (field number, raw field bytes) so an existing model can be re-emitted with
fields left out or added: protobuf parsers append repeated fields in the order they arrive.

stdlib + numpy only.
"""
from __future__ import annotations

import struct

import numpy as np

# TensorProto.DataType
FLOAT, UINT8, INT32, INT64, FLOAT16 = 1, 2, 6, 7, 10
_NP_TO_ONNX = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UINT8, np.dtype(np.int32): INT32,
               np.dtype(np.int64): INT64, np.dtype(np.float16): FLOAT16}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_TENSOR, _ATTR_FLOATS, _ATTR_INTS = 1, 2, 3, 4, 6, 7
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# -- wire format ---------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 -> two's complement, 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(int(value))


def _bytes_field(field: int, value) -> bytes:
    data = value.encode() if isinstance(value, str) else bytes(value)
    return _key(field, _LEN) + _varint(len(data)) + data


def _float_field(field: int, value: float) -> bytes:
    return _key(field, _I32) + struct.pack("<f", float(value))


def _read_varint(data, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def split_fields(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """One message level -> [(field number, raw bytes of the whole field, payload)], in order.

    The payload is the content of a length-delimited field (a sub-message, string or packed
    array) and the encoded value otherwise.
    """
    fields, pos, view = [], 0, memoryview(data)
    while pos < len(data):
        start = pos
        key, pos = _read_varint(view, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, end = _read_varint(view, pos)
            payload_start = pos
        elif wire == _I64:
            payload_start, end = pos, pos + 8
        elif wire == _I32:
            payload_start, end = pos, pos + 4
        elif wire == _LEN:
            length, payload_start = _read_varint(view, pos)
            end = payload_start + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {field})")
        if end > len(data):
            raise ValueError("truncated protobuf message")
        fields.append((field, bytes(view[start:end]), bytes(view[payload_start:end])))
        pos = end
    return fields


def field_string(message: bytes, field: int) -> str | None:
    """The first string/bytes field ``field`` of a message, decoded, or None."""
    for number, _, payload in split_fields(message):
        if number == field:
            return payload.decode()
    return None


def field_int(message: bytes, field: int, default: int = 0) -> int:
    for number, raw, _ in split_fields(message):
        if number == field:
            return _read_varint(raw, len(_key(field, _VARINT)))[0]
    return default


# -- ONNX messages -------------------------------------------------------------------------------


def tensor(name: str, array) -> bytes:
    """TensorProto with raw little-endian data."""
    array = np.asarray(array)  # (not ascontiguousarray: it turns a 0-d scalar into shape (1,))
    if array.dtype not in _NP_TO_ONNX:
        raise TypeError(f"no ONNX type for {array.dtype}")
    dims = b"".join(_int_field(1, d) for d in array.shape)
    return (dims + _int_field(2, _NP_TO_ONNX[array.dtype]) + _bytes_field(8, name)
            + _bytes_field(9, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="C")))


def _attribute(name: str, value) -> bytes:
    head = _bytes_field(1, name)
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return head + _int_field(3, int(value)) + _int_field(20, _ATTR_INT)
    if isinstance(value, (float, np.floating)):
        return head + _float_field(2, value) + _int_field(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return head + _bytes_field(4, value) + _int_field(20, _ATTR_STRING)
    if isinstance(value, np.ndarray):
        return head + _bytes_field(5, tensor(name, value)) + _int_field(20, _ATTR_TENSOR)
    values = list(value)
    if values and all(isinstance(v, (float, np.floating)) for v in values):
        packed = struct.pack(f"<{len(values)}f", *values)
        return head + _bytes_field(7, packed) + _int_field(20, _ATTR_FLOATS)
    packed = b"".join(_varint(int(v)) for v in values)
    return head + _bytes_field(8, packed) + _int_field(20, _ATTR_INTS)


def node(op_type: str, inputs, outputs, name: str = "", **attributes) -> bytes:
    """NodeProto of the default (ai.onnx) domain; an empty input name is an omitted optional input."""
    body = b"".join(_bytes_field(1, i) for i in inputs) + b"".join(_bytes_field(2, o) for o in outputs)
    body += _bytes_field(3, name or outputs[0]) + _bytes_field(4, op_type)
    body += b"".join(_bytes_field(5, _attribute(k, v)) for k, v in attributes.items())
    return body


def value_info(name: str, elem_type: int, shape) -> bytes:
    """ValueInfoProto of a tensor; a dimension is an int (fixed) or a str (named, dynamic)."""
    dims = b"".join(_bytes_field(1, _int_field(1, d) if isinstance(d, int) else _bytes_field(2, d))
                    for d in shape)
    tensor_type = _int_field(1, elem_type) + _bytes_field(2, dims)
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def graph(name: str, nodes, inputs, outputs, initializers=(), raw_fields: bytes = b"",
          nodes_after=()) -> bytes:
    """GraphProto body. ``raw_fields`` (already encoded GraphProto fields, e.g. another graph's
    nodes and initializers) sit between ``nodes`` and ``nodes_after``, which keeps the node list
    in topological order when a graph is wrapped."""
    return (_bytes_field(2, name) + b"".join(_bytes_field(1, n) for n in nodes) + raw_fields
            + b"".join(_bytes_field(1, n) for n in nodes_after)
            + b"".join(_bytes_field(5, t) for t in initializers)
            + b"".join(_bytes_field(11, v) for v in inputs) + b"".join(_bytes_field(12, v) for v in outputs))


def opset(version: int, domain: str = "") -> bytes:
    return (_bytes_field(1, domain) if domain else b"") + _int_field(2, version)


def model(graph_body: bytes, opset_version: int, ir_version: int = 8, producer: str = "vitpose_ros",
          metadata: dict[str, str] | None = None) -> bytes:
    """Serialized ModelProto around a GraphProto body."""
    props = b"".join(_bytes_field(14, _bytes_field(1, k) + _bytes_field(2, v)) for k, v in (metadata or {}).items())
    return (_int_field(1, ir_version) + _bytes_field(2, producer) + _bytes_field(7, graph_body)
            + _bytes_field(8, opset(opset_version)) + props)


# field numbers the composer reads
MODEL_GRAPH, MODEL_OPSET, MODEL_IR_VERSION = 7, 8, 1
GRAPH_NODE, GRAPH_NAME, GRAPH_INPUT, GRAPH_OUTPUT = 1, 2, 11, 12
VALUE_INFO_NAME = 1
OPSET_DOMAIN, OPSET_VERSION = 1, 2


def field_bytes(field: int, payload: bytes) -> bytes:
    """A length-delimited field (used to re-wrap an edited sub-message)."""
    return _bytes_field(field, payload)
