"""mx.contrib.text (tracegrad/contrib_text): MXNet 1.9.1's test_contrib_text.py cases that need
no download (embedding files written to tmp_path), its docstring examples, and the errors."""
import collections
import os
from collections import Counter

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd
from tracegrad.base import MXNetError
from tracegrad.contrib import text
from tracegrad.test_utils import assert_almost_equal


def _seqs(token_delim, seq_delim):
    words = [['Life', 'is', 'great', '!'], ['life', 'is', 'good', '.'],
             ['life', "isn't", 'bad', '.']]
    return ''.join(token_delim + token_delim.join(w) + token_delim + seq_delim for w in words)


def _write(directory, name, lines, delim='\t'):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(''.join(delim.join(line) + '\n' for line in lines), encoding='utf8')
    return str(path)


FILE1 = [['a', '0.1', '0.2', '0.3', '0.4', '0.5'], ['b', '0.6', '0.7', '0.8', '0.9', '1.0']]
FILE2 = [['a', '0.01', '0.02', '0.03', '0.04', '0.05'],
         ['c', '0.06', '0.07', '0.08', '0.09', '0.1']]
FILE3 = FILE1 + [['<unk1>', '1.1', '1.2', '1.3', '1.4', '1.5']]
FILE4 = FILE2 + [['<unk2>', '0.11', '0.12', '0.13', '0.14', '0.15']]
COUNTER = Counter(['a', 'b', 'b', 'c', 'c', 'c', 'some_word$'])


# --- utils ------------------------------------------------------------------------------------

@pytest.mark.parametrize('token_delim,seq_delim', [(' ', '\n'), ('IS', 'LIFE')])
def test_count_tokens_from_str(token_delim, seq_delim):
    src = _seqs(token_delim, seq_delim)
    count = text.utils.count_tokens_from_str
    assert count(src, token_delim, seq_delim, to_lower=False) == Counter(
        {'is': 2, 'life': 2, '.': 2, 'Life': 1, 'great': 1, '!': 1, 'good': 1, "isn't": 1,
         'bad': 1})
    assert count(src, token_delim, seq_delim, to_lower=True) == Counter(
        {'life': 3, 'is': 2, '.': 2, 'great': 1, '!': 1, 'good': 1, "isn't": 1, 'bad': 1})
    base = Counter({'life': 2})
    assert count(src, token_delim, seq_delim, counter_to_update=base.copy()) == Counter(
        {'is': 2, 'life': 4, '.': 2, 'Life': 1, 'great': 1, '!': 1, 'good': 1, "isn't": 1,
         'bad': 1})
    assert count(src, token_delim, seq_delim, to_lower=True,
                 counter_to_update=base.copy()) == Counter(
        {'life': 5, 'is': 2, '.': 2, 'great': 1, '!': 1, 'good': 1, "isn't": 1, 'bad': 1})


def test_count_tokens_docstring_examples_and_in_place_update():
    count = text.utils.count_tokens_from_str
    expected = Counter({'!': 1, '.': 1, 'good': 1, 'great': 1, 'is': 2, 'life': 2})
    assert count(' Life is great ! \n life is good . \n', ' ', '\n', True) == expected
    assert count('*Life*is*great*!*\n*life*is*good*.*\n', '\\*', '\n', True) == expected
    mine = Counter({'x': 1})
    assert count('x y', counter_to_update=mine) is mine
    assert mine == Counter({'x': 2, 'y': 1})
    assert count('') == Counter()


# --- vocab ------------------------------------------------------------------------------------

def test_tokens_to_indices():
    v = text.vocab.Vocabulary(COUNTER, most_freq_count=None, min_freq=1, unknown_token='<unk>',
                              reserved_tokens=None)
    assert v.to_indices('c') == 1
    assert v.to_indices(['c']) == [1]
    assert v.to_indices(['<unk>', 'non-exist']) == [0, 0]
    assert v.to_indices(['a', 'non-exist', 'a', 'b']) == [3, 0, 3, 2]


def test_indices_to_tokens():
    v = text.vocab.Vocabulary(COUNTER, unknown_token='<unknown>')
    assert v.to_tokens(1) == 'c'
    assert v.to_tokens([1]) == ['c']
    assert v.to_tokens([0, 0]) == ['<unknown>', '<unknown>']
    assert v.to_tokens([3, 0, 3, 2]) == ['a', '<unknown>', 'a', 'b']
    assert v.to_tokens(np.int64(2)) == 'b'
    for bad in (100, 5, 1.0, '1', [1, 100]):
        with pytest.raises(ValueError, match='invalid'):
            v.to_tokens(bad)
    with pytest.raises(MXNetError):
        v.to_tokens(100)


@pytest.mark.parametrize('kwargs,expected', [
    (dict(), {'<unk>': 0, 'c': 1, 'b': 2, 'a': 3, 'some_word$': 4}),
    (dict(min_freq=2), {'<unk>': 0, 'c': 1, 'b': 2}),
    (dict(min_freq=100), {'<unk>': 0}),
    (dict(most_freq_count=2), {'<unk>': 0, 'c': 1, 'b': 2}),
    (dict(most_freq_count=3), {'<unk>': 0, 'c': 1, 'b': 2, 'a': 3}),
    (dict(most_freq_count=100), {'<unk>': 0, 'c': 1, 'b': 2, 'a': 3, 'some_word$': 4}),
    (dict(most_freq_count=1, min_freq=2), {'<unk>': 0, 'c': 1}),
    (dict(unknown_token='<unknown>', reserved_tokens=['b']),
     {'<unknown>': 0, 'b': 1, 'c': 2, 'a': 3, 'some_word$': 4}),
    (dict(min_freq=2, reserved_tokens=['b', 'a']), {'<unk>': 0, 'b': 1, 'a': 2, 'c': 3}),
    (dict(min_freq=100, reserved_tokens=['b', 'c']), {'<unk>': 0, 'b': 1, 'c': 2}),
    (dict(most_freq_count=1, min_freq=2, reserved_tokens=['<pad>', 'b']),
     {'<unk>': 0, '<pad>': 1, 'b': 2, 'c': 3}),
    (dict(min_freq=2, unknown_token='b', reserved_tokens=['<pad>']),
     {'b': 0, '<pad>': 1, 'c': 2}),
    (dict(min_freq=2, unknown_token='a', reserved_tokens=['<pad>']),
     {'a': 0, '<pad>': 1, 'c': 2, 'b': 3}),
])
def test_vocabulary(kwargs, expected):
    v = text.vocab.Vocabulary(COUNTER, **kwargs)
    assert len(v) == len(expected)
    assert v.token_to_idx == expected
    assert v.idx_to_token == sorted(expected, key=expected.get)
    assert v.unknown_token == kwargs.get('unknown_token', '<unk>')
    assert v.reserved_tokens == kwargs.get('reserved_tokens')


def test_vocabulary_tuple_tokens_and_no_counter():
    counter = Counter([('a', 'a'), ('b', 'b'), ('b', 'b'), ('c', 'c'), ('c', 'c'), ('c', 'c'),
                       ('some_word$', 'some_word$')])
    v = text.vocab.Vocabulary(counter, unknown_token=('<unk>', '<unk>'))
    assert v.token_to_idx == {('<unk>', '<unk>'): 0, ('c', 'c'): 1, ('b', 'b'): 2,
                              ('a', 'a'): 3, ('some_word$', 'some_word$'): 4}
    assert v.to_indices(('c', 'c')) == 1     # a tuple is one token, not a list of them
    empty = text.vocab.Vocabulary(reserved_tokens=['<pad>'])
    assert empty.idx_to_token == ['<unk>', '<pad>'] and len(empty) == 2


def test_vocabulary_ties_in_token_order_and_reserved_copied():
    v = text.vocab.Vocabulary(Counter({'z': 2, 'y': 2, 'b': 1, 'a': 1, 'x': 3}),
                              most_freq_count=3)
    assert v.idx_to_token == ['<unk>', 'x', 'y', 'z']
    reserved = ['<pad>']
    v = text.vocab.Vocabulary(reserved_tokens=reserved)
    reserved.append('<bos>')
    assert v.reserved_tokens == ['<pad>']


def test_vocabulary_errors():
    V = text.vocab.Vocabulary
    with pytest.raises(AssertionError, match='min_freq'):
        V(COUNTER, min_freq=0, unknown_token='<unknown>', reserved_tokens=['b'])
    with pytest.raises(AssertionError, match='duplicate'):
        V(COUNTER, unknown_token='<unknown>', reserved_tokens=['b', 'b'])
    with pytest.raises(AssertionError, match='unknown_token'):
        V(COUNTER, unknown_token='<unknown>', reserved_tokens=['b', '<unknown>'])
    with pytest.raises(AssertionError, match='collections.Counter') as err:
        V({'a': 1})
    assert isinstance(err.value, MXNetError)


# --- embedding --------------------------------------------------------------------------------

def test_custom_embed(tmp_path):
    path = _write(tmp_path, 'my_pretrain_file.txt', FILE1)
    e = text.embedding.CustomEmbedding(path, '\t')
    assert len(e) == 3 and e.vec_len == 5
    assert e.token_to_idx['a'] == 1 and e.idx_to_token[1] == 'a'
    assert isinstance(e.idx_to_vec, nd.NDArray) and e.idx_to_vec.dtype == np.float32
    assert_almost_equal(e.idx_to_vec[0].asnumpy(), np.zeros(5))
    assert_almost_equal(e.get_vecs_by_tokens('A').asnumpy(), np.zeros(5))
    assert_almost_equal(e.get_vecs_by_tokens('A', lower_case_backup=True).asnumpy(),
                        np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert_almost_equal(e.get_vecs_by_tokens(['<unk$unk@unk>', '<unk$unk@unk>']).asnumpy(),
                        np.zeros((2, 5)))
    # the unknown token's vector: from init_unknown_vec unless the file has the token
    path3 = _write(tmp_path, 'my_pretrain_file2.txt', FILE3)
    e2 = text.embedding.CustomEmbedding(path3, '\t', init_unknown_vec=nd.ones,
                                        unknown_token='<unk>')
    assert_almost_equal(e2.get_vecs_by_tokens('<unk>').asnumpy(), np.ones(5))
    assert_almost_equal(e2.get_vecs_by_tokens('<unk$unk@unk>').asnumpy(), np.ones(5))
    assert e2.idx_to_token == ['<unk>', 'a', 'b', '<unk1>']
    e3 = text.embedding.CustomEmbedding(path3, '\t', init_unknown_vec=nd.ones,
                                        unknown_token='<unk1>')
    assert e3.idx_to_token == ['<unk1>', 'a', 'b']
    for tok in ('<unk1>', '<unk$unk@unk>'):
        assert_almost_equal(e3.get_vecs_by_tokens(tok).asnumpy(),
                            np.array([1.1, 1.2, 1.3, 1.4, 1.5]))


def test_custom_embed_invalid_files(tmp_path):
    lonely = _write(tmp_path, 'invalid_pretrain_file.txt', FILE1 + [['c']])
    with pytest.raises(AssertionError, match='line 3'):
        text.embedding.CustomEmbedding(lonely, '\t')
    short = _write(tmp_path, 'invalid_pretrain_file2.txt', FILE1 + [['c', '0.6', '0.7', '0.8']])
    with pytest.raises(AssertionError, match='dimension of token c is 3') as err:
        text.embedding.CustomEmbedding(short, '\t')
    assert isinstance(err.value, MXNetError)
    not_num = _write(tmp_path, 'nan.txt', FILE1 + [['c', '0.6', 'x', '0.8', '1', '1']])
    with pytest.raises(ValueError, match='line 3'):
        text.embedding.CustomEmbedding(not_num, '\t')
    with pytest.raises(ValueError, match='valid path'):
        text.embedding.CustomEmbedding(str(tmp_path / 'missing.txt'))
    only_header = _write(tmp_path, 'header.txt', [['3', '5']], delim=' ')
    with pytest.warns(UserWarning, match='header'):
        with pytest.raises(AssertionError, match='no token'):
            text.embedding.CustomEmbedding(only_header)
    bad_unk = _write(tmp_path, 'unk.txt', FILE1 + [['<unk>', '1', '2']])
    with pytest.raises(AssertionError, match='unknown token <unk>'):
        text.embedding.CustomEmbedding(bad_unk, '\t')
    with pytest.raises(AssertionError, match='vocabulary='):
        text.embedding.CustomEmbedding(_write(tmp_path, 'f.txt', FILE1), '\t',
                                       reserved_tokens=['<pad>'])


def test_fasttext_header_skipped_and_duplicates_keep_first(tmp_path):
    lines = [['2', '5'], ['a', '1', '2', '3', '4', '5'], ['a', '9', '9', '9', '9', '9'],
             ['b', '6', '7', '8', '9', '10'], ['<unk>', '-1', '-1', '-1', '-1', '-1'],
             ['<unk>', '7', '7', '7', '7', '7']]
    path = _write(tmp_path, 'ft.vec', lines, delim=' ')
    with pytest.warns(UserWarning) as record:
        e = text.embedding.CustomEmbedding(path)
    messages = [str(w.message) for w in record]
    assert any('line 1' in m and 'header' in m for m in messages)
    assert any('line 3' in m and 'duplicate' in m for m in messages)
    assert any('line 6' in m and 'duplicate' in m for m in messages)
    assert e.idx_to_token == ['<unk>', 'a', 'b']
    assert_almost_equal(e.idx_to_vec.asnumpy(),
                        np.array([[-1] * 5, [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]))


def test_custom_embed_other_encoding_and_delim(tmp_path):
    path = tmp_path / 'latin.txt'
    path.write_bytes('caf\xe9,1,2\nb,3,4\n'.encode('latin-1'))
    e = text.embedding.CustomEmbedding(str(path), ',', encoding='latin-1')
    assert e.token_to_idx == {'<unk>': 0, 'caf\xe9': 1, 'b': 2}
    assert_almost_equal(e.get_vecs_by_tokens('caf\xe9').asnumpy(), np.array([1, 2]))


def _expected_after_updates(e, first_rows):
    e.update_token_vectors(['a', 'b'], nd.array([[2, 2, 2, 2, 2], [3, 3, 3, 3, 3]]))
    rest = [[1] * 5, [1] * 5, [3] * 5, [2] * 5, [1] * 5]
    assert_almost_equal(e.idx_to_vec.asnumpy(), np.array([first_rows] + rest))
    with pytest.raises(ValueError, match='unknown\\$\\$\\$ is unknown'):
        e.update_token_vectors('unknown$$$', nd.array([0, 0, 0, 0, 0]))
    with pytest.raises(AssertionError, match='shape'):
        e.update_token_vectors('<unk>', nd.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(AssertionError, match='shape'):
        e.update_token_vectors('<unk>', nd.array([0]))
    with pytest.raises(AssertionError, match='1-D or 2-D NDArray'):
        e.update_token_vectors('<unk>', [0, 0, 0, 0, 0])
    with pytest.raises(AssertionError, match='2-D NDArray'):
        e.update_token_vectors(['a', 'b'], nd.zeros(10))
    held = e.idx_to_vec
    for tokens, new, row in ((['<unk>'], nd.array([0, 0, 0, 0, 0]), 0),
                             (['<unk>'], nd.array([[10, 10, 10, 10, 10]]), 10),
                             ('<unk>', nd.array([0, 0, 0, 0, 0]), 0),
                             ('<unk>', nd.array([[10, 10, 10, 10, 10]]), 10)):
        e.update_token_vectors(tokens, new)
        assert_almost_equal(e.idx_to_vec.asnumpy(), np.array([[row] * 5] + rest))
    assert held is e.idx_to_vec   # updated in place


def _check_lookups(e):
    assert_almost_equal(e.get_vecs_by_tokens('c').asnumpy(), np.ones(5))
    assert_almost_equal(e.get_vecs_by_tokens(['c']).asnumpy(), np.ones((1, 5)))
    a, b = [0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 1]
    assert_almost_equal(e.get_vecs_by_tokens(['a', 'not_exist']).asnumpy(), np.array([a, [1] * 5]))
    assert_almost_equal(e.get_vecs_by_tokens(['a', 'b']).asnumpy(), np.array([a, b]))
    assert_almost_equal(e.get_vecs_by_tokens(['A', 'b']).asnumpy(), np.array([[1] * 5, b]))
    assert_almost_equal(e.get_vecs_by_tokens(['A', 'b'], lower_case_backup=True).asnumpy(),
                        np.array([a, b]))


def test_custom_embedding_with_vocabulary(tmp_path):
    path = _write(tmp_path, 'my_pretrain_file1.txt', FILE1)
    v1 = text.vocab.Vocabulary(COUNTER, reserved_tokens=['<pad>'])
    e1 = text.embedding.CustomEmbedding(path, '\t', init_unknown_vec=nd.ones, vocabulary=v1)
    assert e1.token_to_idx == {'<unk>': 0, '<pad>': 1, 'c': 2, 'b': 3, 'a': 4, 'some_word$': 5}
    assert e1.idx_to_token == ['<unk>', '<pad>', 'c', 'b', 'a', 'some_word$']
    assert_almost_equal(e1.idx_to_vec.asnumpy(),
                        np.array([[1] * 5, [1] * 5, [1] * 5, [0.6, 0.7, 0.8, 0.9, 1],
                                  [0.1, 0.2, 0.3, 0.4, 0.5], [1] * 5]))
    assert e1.vec_len == 5 and e1.reserved_tokens == ['<pad>'] and len(e1) == 6
    _check_lookups(e1)
    _expected_after_updates(e1, [1] * 5)
    e1.token_to_idx['zzz'] = 99
    assert 'zzz' not in v1.token_to_idx          # the embedding copied the vocabulary's maps


def test_composite_embedding_with_one_embedding(tmp_path):
    path = _write(tmp_path, 'my_pretrain_file1.txt', FILE1)
    my_embed = text.embedding.CustomEmbedding(path, '\t', init_unknown_vec=nd.ones)
    v1 = text.vocab.Vocabulary(COUNTER, reserved_tokens=['<pad>'])
    ce1 = text.embedding.CompositeEmbedding(v1, my_embed)
    assert ce1.token_to_idx == {'<unk>': 0, '<pad>': 1, 'c': 2, 'b': 3, 'a': 4, 'some_word$': 5}
    assert ce1.idx_to_token == ['<unk>', '<pad>', 'c', 'b', 'a', 'some_word$']
    assert ce1.vec_len == 5 and ce1.reserved_tokens == ['<pad>']
    _check_lookups(ce1)
    _expected_after_updates(ce1, [1] * 5)
    assert_almost_equal(my_embed.idx_to_vec[0].asnumpy(), np.ones(5))   # source untouched


def test_composite_embedding_with_two_embeddings(tmp_path):
    d = tmp_path / 'my_embed'
    e1 = text.embedding.CustomEmbedding(_write(d, 'f1.txt', FILE1), '\t',
                                        init_unknown_vec=nd.ones)
    e2 = text.embedding.CustomEmbedding(_write(d, 'f2.txt', FILE2), '\t')
    v1 = text.vocab.Vocabulary(COUNTER)
    ce1 = text.embedding.CompositeEmbedding(v1, [e1, e2])
    assert ce1.token_to_idx == {'<unk>': 0, 'c': 1, 'b': 2, 'a': 3, 'some_word$': 4}
    assert ce1.idx_to_token == ['<unk>', 'c', 'b', 'a', 'some_word$']
    zero, one = [0] * 5, [1] * 5
    assert_almost_equal(ce1.idx_to_vec.asnumpy(), np.array([
        one + zero, one + [0.06, 0.07, 0.08, 0.09, 0.1], [0.6, 0.7, 0.8, 0.9, 1] + zero,
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.01, 0.02, 0.03, 0.04, 0.05], one + zero]))
    assert ce1.vec_len == 10 and ce1.reserved_tokens is None
    assert_almost_equal(ce1.get_vecs_by_tokens('c').asnumpy(),
                        np.array(one + [0.06, 0.07, 0.08, 0.09, 0.1]))
    assert_almost_equal(ce1.get_vecs_by_tokens(['b', 'not_exist']).asnumpy(),
                        np.array([[0.6, 0.7, 0.8, 0.9, 1] + zero, one + zero]))
    ce1.update_token_vectors(['a', 'b'], nd.array([[2] * 10, [3] * 10]))
    assert_almost_equal(ce1.idx_to_vec.asnumpy(), np.array([
        one + zero, one + [0.06, 0.07, 0.08, 0.09, 0.1], [3] * 10, [2] * 10, one + zero]))
    # unknown vectors loaded from the files
    e3 = text.embedding.CustomEmbedding(_write(d, 'f3.txt', FILE3), '\t',
                                        init_unknown_vec=nd.ones, unknown_token='<unk1>')
    e4 = text.embedding.CustomEmbedding(_write(d, 'f4.txt', FILE4), '\t', unknown_token='<unk2>')
    u3, u4 = [1.1, 1.2, 1.3, 1.4, 1.5], [0.11, 0.12, 0.13, 0.14, 0.15]
    expected = np.array([u3 + u4, u3 + [0.06, 0.07, 0.08, 0.09, 0.1],
                         [0.6, 0.7, 0.8, 0.9, 1] + u4,
                         [0.1, 0.2, 0.3, 0.4, 0.5, 0.01, 0.02, 0.03, 0.04, 0.05], u3 + u4])
    for unk in ('<unk>', '<unk1>', '<unk2>'):
        v = text.vocab.Vocabulary(COUNTER, unknown_token=unk)
        ce = text.embedding.CompositeEmbedding(v, [e3, e4])
        assert_almost_equal(ce.idx_to_vec.asnumpy(), expected)
    v5 = text.vocab.Vocabulary(Counter(['b', 'b', 'c', 'c', 'c', 'some_word$']),
                               unknown_token='a')
    ce5 = text.embedding.CompositeEmbedding(v5, [e3, e4])
    assert ce5.token_to_idx == {'a': 0, 'c': 1, 'b': 2, 'some_word$': 3}
    assert ce5.idx_to_token == ['a', 'c', 'b', 'some_word$']
    assert_almost_equal(ce5.idx_to_vec.asnumpy(), np.array([
        u3 + u4, u3 + [0.06, 0.07, 0.08, 0.09, 0.1], [0.6, 0.7, 0.8, 0.9, 1] + u4, u3 + u4]))


def test_composite_embedding_errors(tmp_path):
    e = text.embedding.CustomEmbedding(_write(tmp_path, 'f.txt', FILE1), '\t')
    with pytest.raises(AssertionError, match='vocabulary'):
        text.embedding.CompositeEmbedding(COUNTER, e)
    with pytest.raises(AssertionError, match='token_embeddings'):
        text.embedding.CompositeEmbedding(text.vocab.Vocabulary(COUNTER), [e, 'glove'])
    with pytest.raises(AssertionError, match='vocabulary'):
        text.embedding.CustomEmbedding(_write(tmp_path, 'f.txt', FILE1), '\t', vocabulary=COUNTER)
    only_unk = text.embedding.CompositeEmbedding(text.vocab.Vocabulary(), e)
    assert only_unk.idx_to_vec.shape == (1, 5)


def test_embedding_has_no_item_access_as_in_mxnet(tmp_path):
    e = text.embedding.CustomEmbedding(_write(tmp_path, 'f.txt', FILE1), '\t')
    assert len(e) == 3
    with pytest.raises(TypeError):
        e['a']
    with pytest.raises(TypeError):
        'a' in e


def test_download_embed_registered_subclass_reads_local_file(tmp_path):
    """MXNet's test_download_embed, with the file already where MXNet would download it."""
    _write(tmp_path / 'test', 'embedding_test.vec',
           [['hello', '1', '2', '3', '4', '5'], ['world', '6', '7', '8', '9', '10']], delim=' ')

    @text.embedding.register
    class Test(text.embedding._TokenEmbedding):
        pretrained_file_name_sha1 = {
            'embedding_test.vec': '29b9a6511cf4b5aae293c44a9ec1365b74f2a2f8'}

        def __init__(self, embedding_root='embeddings', init_unknown_vec=nd.zeros, **kwargs):
            name = 'embedding_test.vec'
            Test._check_pretrained_file_names(name)
            super(Test, self).__init__(**kwargs)
            path = Test._get_pretrained_file(embedding_root, name)
            self._load_embedding(path, ' ', init_unknown_vec)

    try:
        e = text.embedding.create('TEST', embedding_root=str(tmp_path))
        assert type(e) is Test
        assert e.token_to_idx['hello'] == 1 and e.token_to_idx['world'] == 2
        assert_almost_equal(e.idx_to_vec[1].asnumpy(), (nd.arange(5) + 1).asnumpy())
        assert_almost_equal(e.idx_to_vec[2].asnumpy(), (nd.arange(5) + 6).asnumpy())
        assert_almost_equal(e.idx_to_vec[0].asnumpy(), np.zeros(5))
        assert text.embedding.create(e) is e
        assert text.embedding.get_pretrained_file_names('test') == ['embedding_test.vec']
        with pytest.raises(MXNetError, match='never downloads'):
            text.embedding.create('test', embedding_root=str(tmp_path / 'none'))
        with pytest.warns(UserWarning, match='overriding'):
            text.embedding.register(type('Test', (text.embedding._TokenEmbedding,), {}))
    finally:
        text.embedding._REGISTRY.pop('test', None)


def test_get_and_pretrain_file_names():
    names = text.embedding.get_pretrained_file_names
    assert len(names(embedding_name='fasttext')) == 327
    assert len(names(embedding_name='glove')) == 10
    reg = names(embedding_name=None)
    assert len(reg['glove']) == 10 and len(reg['fasttext']) == 327
    assert 'glove.6B.50d.txt' in reg['glove'] and 'wiki.simple.vec' in reg['fasttext']
    assert 'crawl-300d-2M.vec' in reg['fasttext'] and 'wiki-news-300d-1M.vec' in reg['fasttext']
    with pytest.raises(KeyError):
        names('unknown$$')
    with pytest.raises(KeyError):
        names('GloVe')     # MXNet matches this name exactly


def test_create_errors():
    with pytest.raises(AssertionError, match='not registered'):
        text.embedding.create('word2vec')
    with pytest.raises(KeyError, match='glove.1B.txt'):
        text.embedding.create('glove', pretrained_file_name='glove.1B.txt')
    with pytest.raises(AssertionError, match='subclass'):
        text.embedding.register(dict)


def test_glove_and_fasttext_never_download(tmp_path):
    with pytest.raises(MXNetError, match='never downloads') as err:
        text.embedding.create('glove', pretrained_file_name='glove.6B.50d.txt',
                              embedding_root=str(tmp_path))
    msg = str(err.value)
    assert os.path.join(str(tmp_path), 'glove', 'glove.6B.50d.txt') in msg
    assert 'glove.6B.zip' in msg and '.txt / .vec' in msg
    with pytest.raises(MXNetError, match='wiki.simple.zip'):
        text.embedding.FastText(embedding_root=str(tmp_path))
    with pytest.raises(MXNetError, match=os.path.join('.mxnet', 'embeddings', 'fasttext')):
        text.embedding.FastText(pretrained_file_name='wiki.aa.vec',
                                embedding_root=os.path.join('~', '.mxnet', 'embeddings'))


def test_glove_and_fasttext_read_local_files(tmp_path):
    _write(tmp_path / 'glove', 'glove.6B.50d.txt',
           [['the', '1', '2', '3'], ['cat', '4', '5', '6']], delim=' ')
    _write(tmp_path / 'fasttext', 'wiki.simple.vec',
           [['2', '3'], ['the', '1', '1', '1'], ['Dog', '2', '2', '2']], delim=' ')
    v = text.vocab.Vocabulary(Counter(['cat', 'cat', 'dog', 'the']))
    g = text.embedding.create('glove', pretrained_file_name='glove.6B.50d.txt',
                              embedding_root=str(tmp_path), vocabulary=v)
    assert isinstance(g, text.embedding.GloVe)
    assert g.idx_to_token == ['<unk>', 'cat', 'dog', 'the']
    assert_almost_equal(g.idx_to_vec.asnumpy(),
                        np.array([[0, 0, 0], [4, 5, 6], [0, 0, 0], [1, 2, 3]]))
    with pytest.warns(UserWarning, match='header'):
        f = text.embedding.FastText(embedding_root=str(tmp_path), init_unknown_vec=nd.ones)
    assert f.idx_to_token == ['<unk>', 'the', 'Dog'] and f.vec_len == 3
    assert_almost_equal(f.get_vecs_by_tokens(['dog', 'x']).asnumpy(), np.ones((2, 3)))
    ce = text.embedding.CompositeEmbedding(v, [g, f])
    assert ce.vec_len == 6
    assert_almost_equal(ce.get_vecs_by_tokens('the').asnumpy(), np.array([1, 2, 3, 1, 1, 1]))


def test_np_mode_gives_mx_np_arrays(tmp_path):
    mx.npx.set_np()
    try:
        e = text.embedding.CustomEmbedding(_write(tmp_path, 'f.txt', FILE1), '\t')
        assert isinstance(e.idx_to_vec, mx.np.ndarray)
        vec = e.get_vecs_by_tokens(['b', 'zz'])
        assert isinstance(vec, mx.np.ndarray)
        assert_almost_equal(vec.asnumpy(), np.array([[0.6, 0.7, 0.8, 0.9, 1], [0] * 5]))
        e.update_token_vectors('a', mx.np.ones((5,)))
        assert_almost_equal(e.idx_to_vec.asnumpy()[1], np.ones(5))
    finally:
        mx.npx.reset_np()


def test_module_exposure():
    import importlib
    assert mx.contrib.text is text
    for name in ('utils', 'vocab', 'embedding'):
        assert importlib.import_module('tracegrad.contrib.text.' + name) is getattr(text, name)
    from tracegrad.contrib.text import vocab as v
    assert v.Vocabulary is text.vocab.Vocabulary
    assert isinstance(text.utils.count_tokens_from_str('a'), collections.Counter)
