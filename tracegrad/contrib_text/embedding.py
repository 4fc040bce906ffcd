"""`mx.contrib.text.embedding`: token embeddings as MXNet 1.9.1 has them
(python/mxnet/contrib/text/embedding.py): a Vocabulary whose every index also has a vector
(`idx_to_vec`, row 0 the unknown token's), loaded from a text file of `token v1 v2 ...` lines.

tracegrad never downloads: GloVe / FastText read the unpacked .txt / .vec file from
`<embedding_root>/<glove|fasttext>/<pretrained_file_name>` (MXNet's own cache layout, default
root $MXNET_HOME/embeddings, MXNET_HOME defaulting to ~/.mxnet) and raise, saying where to put
it, when it is not there. Their SHA-1 hashes are not kept, so a file present is read as is.
"""
import logging
import os
import warnings

import numpy as np

from .. import nd
from ..base import MXNetError, data_dir
from ..util import is_np_array
from . import vocab
from .vocab import UNKNOWN_IDX

__all__ = ["register", "create", "get_pretrained_file_names", "GloVe", "FastText",
           "CustomEmbedding", "CompositeEmbedding", "EmbeddingError", "EmbeddingValueError",
           "EmbeddingNameError", "PretrainedFileMissingError"]


class EmbeddingError(MXNetError, AssertionError):
    """A file, vocabulary or vector MXNet's asserts reject (so an AssertionError)."""


class EmbeddingValueError(MXNetError, ValueError):
    """A path, token or number MXNet rejects with a ValueError."""


class EmbeddingNameError(MXNetError, KeyError):
    """An embedding or pretrained file name that is not registered (a KeyError, as MXNet)."""


class PretrainedFileMissingError(MXNetError):
    """A pretrained file MXNet would download: tracegrad only reads it from disk."""


_REGISTRY = {}  # lower-cased class name -> _TokenEmbedding subclass


def register(embedding_cls):
    """Class decorator: make `embedding_cls` creatable as create('<its name, any case>')."""
    if not (isinstance(embedding_cls, type) and issubclass(embedding_cls, _TokenEmbedding)):
        raise EmbeddingError("text.embedding.register: can only register a subclass of "
                             "_TokenEmbedding, got %r." % (embedding_cls,))
    name = embedding_cls.__name__.lower()
    old = _REGISTRY.get(name)
    if old is not None and old is not embedding_cls:
        warnings.warn("New token embedding %s.%s registered with name %s is overriding existing "
                      "token embedding %s.%s" % (embedding_cls.__module__,
                                                 embedding_cls.__name__, name, old.__module__,
                                                 old.__name__), UserWarning, stacklevel=2)
    _REGISTRY[name] = embedding_cls
    return embedding_cls


def create(embedding_name, **kwargs):
    """An instance of the registered embedding `embedding_name` (case-insensitive), built with
    `kwargs` (e.g. pretrained_file_name, embedding_root, vocabulary)."""
    if isinstance(embedding_name, _TokenEmbedding):
        if kwargs:
            raise EmbeddingError("text.embedding.create: token embedding is already an "
                                 "instance. Additional arguments %s are invalid."
                                 % sorted(kwargs))
        return embedding_name
    if not isinstance(embedding_name, str):
        raise EmbeddingError("text.embedding.create: token embedding must be of string type, "
                             "got %r." % (embedding_name,))
    name = embedding_name.lower()
    if name not in _REGISTRY:
        raise EmbeddingError("text.embedding.create: %s is not registered. Please register with "
                             "token embedding.register first (registered: %s)."
                             % (name, ", ".join(sorted(_REGISTRY))))
    return _REGISTRY[name](**kwargs)


def get_pretrained_file_names(embedding_name=None):
    """The pretrained file names of `embedding_name` (a list; the name is matched exactly, as
    MXNet does), or for None a dict of every registered name to its list."""
    if embedding_name is not None:
        if embedding_name not in _REGISTRY:
            raise EmbeddingNameError("Cannot find `embedding_name` %s. Use "
                                     "`get_pretrained_file_names(embedding_name=None).keys()` "
                                     "to get all the valid embedding names." % (embedding_name,))
        return list(_REGISTRY[embedding_name].pretrained_file_name_sha1)
    return {name: list(cls.pretrained_file_name_sha1) for name, cls in _REGISTRY.items()}


def _to_array(values, dtype=None):
    """An mx.np array under npx.set_np(), else an NDArray (MXNet returns the active kind)."""
    if is_np_array():
        from .. import np as _mxnp
        return _mxnp.array(values, dtype=dtype)
    return nd.array(values, dtype=dtype)


def _host(value):
    """A numpy copy of an NDArray (or of anything numpy takes)."""
    return value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)


class _TokenEmbedding(vocab.Vocabulary):
    """A Vocabulary with one vector per index (`idx_to_vec`, `vec_len`); base of GloVe,
    FastText, CustomEmbedding and CompositeEmbedding. A token met twice in a file keeps its
    first vector; the unknown token's vector comes from the file when the file has it, else
    from `init_unknown_vec`. With `vocabulary`, the vocabulary's tokens are indexed instead of
    the file's, each with its loaded vector (the unknown one when the file lacks it)."""

    # pretrained file name -> its SHA-1 in MXNet; tracegrad keeps the names only
    pretrained_file_name_sha1 = {}
    _vec_len = None
    _idx_to_vec = None

    def __init__(self, **kwargs):
        super(_TokenEmbedding, self).__init__(**kwargs)

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        return pretrained_file_name

    @classmethod
    def _check_pretrained_file_names(cls, pretrained_file_name):
        """KeyError (as MXNet) for a file name this embedding does not have."""
        if pretrained_file_name not in cls.pretrained_file_name_sha1:
            name = cls.__name__.lower()
            raise EmbeddingNameError(
                "Cannot find pretrained file %s for token embedding %s. Valid pretrained files "
                "for embedding %s: %s" % (pretrained_file_name, name, name,
                                          ", ".join(cls.pretrained_file_name_sha1)))

    @classmethod
    def _get_pretrained_file(cls, embedding_root, pretrained_file_name):
        """The path of the pretrained file in MXNet's cache layout; raises when absent, since
        tracegrad never downloads."""
        embedding_dir = os.path.join(os.path.expanduser(embedding_root), cls.__name__.lower())
        path = os.path.join(embedding_dir, pretrained_file_name)
        if os.path.isfile(path):
            return path
        archive = cls._get_download_file_name(pretrained_file_name)
        repo = os.environ.get("MXNET_GLUON_REPO",
                              "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/")
        url = "%sgluon/embeddings/%s/%s" % (repo, cls.__name__.lower(), archive)
        how = ("download %s and put the file %s in %s" % (url, pretrained_file_name,
                                                           embedding_dir)
               if archive == pretrained_file_name else
               "download %s, unpack it and put the plain text file %s in %s (tracegrad reads "
               "the unpacked .txt / .vec file only, not the %s archive)"
               % (url, pretrained_file_name, embedding_dir, os.path.splitext(archive)[1]))
        raise PretrainedFileMissingError(
            "%s: the pretrained file %s is not at %s, and tracegrad never downloads (MXNet "
            "would): %s, or pass embedding_root=<the directory holding %s/%s>."
            % (cls.__name__, pretrained_file_name, path, how, cls.__name__.lower(),
               pretrained_file_name))

    def _load_embedding(self, pretrained_file_path, elem_delim, init_unknown_vec,
                        encoding='utf8'):
        """Index the file's tokens after the unknown token and set `idx_to_vec`. Lines whose
        vector has one element (a fastText `count dim` header) are skipped with a warning, as
        are repeated tokens; a vector of another length than the first one is an error."""
        path = os.path.expanduser(pretrained_file_path)
        if not os.path.isfile(path):
            raise EmbeddingValueError("`pretrained_file_path` must be a valid path to the "
                                      "pre-trained token embedding file: %r is not a file."
                                      % (pretrained_file_path,))
        if len(self._idx_to_token) != 1:
            # MXNet appends the file's tokens after them but gives them no vector rows, so
            # every index after them would point at the wrong vector
            raise EmbeddingError(
                "%s: `counter` / `reserved_tokens` cannot be given to an embedding loaded from "
                "a file (its indices would not match its vectors); build a Vocabulary with "
                "them and pass it as `vocabulary=`." % type(self).__name__)
        logging.info("Loading pre-trained token embedding vectors from %s", path)
        rows, seen, unknown_vec, vec_len = [], set(), None, None
        with open(path, 'r', encoding=encoding) as f:
            for line_num, line in enumerate(f, 1):
                fields = line.rstrip().split(elem_delim)
                if len(fields) < 2:
                    raise EmbeddingError(
                        "At line %d of the pre-trained token embedding file %s: expected a token "
                        "and its vector elements separated by %r, got %r." %
                        (line_num, path, elem_delim, line.rstrip()))
                token = fields[0]
                try:
                    vec = [float(x) for x in fields[1:]]
                except ValueError:
                    raise EmbeddingValueError(
                        "At line %d of the pre-trained token embedding file %s: the vector of "
                        "token %s has an element that is not a number: %r (elements separated "
                        "by %r)." % (line_num, path, token, fields[1:], elem_delim)) from None
                if token == self._unknown_token and unknown_vec is None:
                    unknown_vec, unknown_line = vec, line_num
                    seen.add(token)
                elif token in seen:
                    warnings.warn("At line %d of the pre-trained token embedding file %s: the "
                                  "embedding vector for token %s has been loaded and a "
                                  "duplicate embedding for the same token is seen and skipped."
                                  % (line_num, path, token))
                elif len(vec) == 1:
                    warnings.warn("At line %d of the pre-trained token embedding file %s: token "
                                  "%s with 1-dimensional vector %s is likely a header and is "
                                  "skipped." % (line_num, path, token, vec))
                else:
                    if vec_len is None:
                        vec_len = len(vec)
                    elif len(vec) != vec_len:
                        raise EmbeddingError(
                            "At line %d of the pre-trained token embedding file %s: the "
                            "dimension of token %s is %d but the dimension of previous tokens "
                            "is %d. Dimensions of all the tokens must be the same."
                            % (line_num, path, token, len(vec), vec_len))
                    rows.append(vec)
                    seen.add(token)
                    self._token_to_idx[token] = len(self._idx_to_token)
                    self._idx_to_token.append(token)
        if vec_len is None:
            raise EmbeddingError("The pre-trained token embedding file %s has no token with a "
                                 "vector of more than one element." % path)
        if unknown_vec is not None and len(unknown_vec) != vec_len:
            raise EmbeddingError(
                "At line %d of the pre-trained token embedding file %s: the dimension of the "
                "unknown token %s is %d but the dimension of the other tokens is %d."
                % (unknown_line, path, self._unknown_token, len(unknown_vec), vec_len))
        table = np.empty((len(rows) + 1, vec_len), dtype=np.float32)
        table[1:] = rows
        table[UNKNOWN_IDX] = (unknown_vec if unknown_vec is not None
                              else _host(init_unknown_vec(shape=vec_len)))
        self._vec_len = vec_len
        self._idx_to_vec = _to_array(table)

    def _index_tokens_from_vocabulary(self, vocabulary):
        """Take the vocabulary's indexing (copies, so neither changes the other)."""
        self._token_to_idx = dict(vocabulary.token_to_idx)
        self._idx_to_token = list(vocabulary.idx_to_token)
        self._unknown_token = vocabulary.unknown_token
        self._reserved_tokens = (None if vocabulary.reserved_tokens is None
                                 else list(vocabulary.reserved_tokens))

    def _set_idx_to_vec_by_embeddings(self, token_embeddings, vocab_len, vocab_idx_to_token):
        """`idx_to_vec` for `vocab_idx_to_token`: each embedding's vectors side by side, row 0
        each embedding's unknown vector, unknown tokens getting it too."""
        width = sum(embed.vec_len for embed in token_embeddings)
        table = np.zeros((vocab_len, width), dtype=np.float32)
        col = 0
        for embed in token_embeddings:
            end = col + embed.vec_len
            table[UNKNOWN_IDX, col:end] = _host(embed.idx_to_vec[UNKNOWN_IDX])
            if vocab_len > 1:
                table[1:, col:end] = _host(embed.get_vecs_by_tokens(
                    list(vocab_idx_to_token[1:])))
            col = end
        self._vec_len = width
        self._idx_to_vec = _to_array(table)

    def _build_embedding_for_vocabulary(self, vocabulary):
        """Re-index by `vocabulary`, keeping the loaded vector of each of its tokens."""
        if vocabulary is None:
            return
        if not isinstance(vocabulary, vocab.Vocabulary):
            raise EmbeddingError("The argument `vocabulary` must be an instance of "
                                 "mxnet.contrib.text.vocab.Vocabulary, got %s."
                                 % type(vocabulary).__name__)
        self._set_idx_to_vec_by_embeddings([self], len(vocabulary), vocabulary.idx_to_token)
        self._index_tokens_from_vocabulary(vocabulary)

    @property
    def vec_len(self):
        """int: the length of each token's vector."""
        return self._vec_len

    @property
    def idx_to_vec(self):
        """NDArray (len(self), vec_len): the vector of each index; row 0 the unknown token's."""
        return self._idx_to_vec

    def get_vecs_by_tokens(self, tokens, lower_case_backup=False):
        """The vector of a token (1-D) or the vectors of a list of tokens (2-D); unknown tokens
        get row 0. With lower_case_backup, a token not found is looked up lower-cased."""
        single = not isinstance(tokens, list)
        if single:
            tokens = [tokens]
        t2i = self._token_to_idx
        if lower_case_backup:
            indices = [t2i[t] if t in t2i else t2i.get(t.lower(), UNKNOWN_IDX) for t in tokens]
        else:
            indices = [t2i.get(t, UNKNOWN_IDX) for t in tokens]
        table = self._idx_to_vec
        rows, cols = table.shape
        if is_np_array():
            from .. import npx as _npx
            vecs = _npx.embedding(_to_array(indices), table, rows, cols)
        else:
            vecs = nd.Embedding(nd.array(indices), table, rows, cols)
        return vecs[0] if single else vecs

    def update_token_vectors(self, tokens, new_vectors):
        """Overwrite, in place, the vectors of `tokens` (a token: `new_vectors` 1-D or 2-D of
        one row; a list: 2-D, one row per token). To change the unknown vector name the
        unknown token itself; any other token not indexed is a ValueError."""
        if self._idx_to_vec is None:
            raise EmbeddingError("The property `idx_to_vec` has not been properly set.")
        if not isinstance(tokens, list) or len(tokens) == 1:
            if not (isinstance(new_vectors, nd.NDArray) and new_vectors.ndim in (1, 2)):
                raise EmbeddingError("`new_vectors` must be a 1-D or 2-D NDArray if `tokens` is "
                                     "a singleton, got %s." % _describe(new_vectors))
            if not isinstance(tokens, list):
                tokens = [tokens]
            if new_vectors.ndim == 1:
                new_vectors = new_vectors.reshape((1, -1))
        elif not (isinstance(new_vectors, nd.NDArray) and new_vectors.ndim == 2):
            raise EmbeddingError("`new_vectors` must be a 2-D NDArray if `tokens` is a list of "
                                 "multiple strings, got %s." % _describe(new_vectors))
        if tuple(new_vectors.shape) != (len(tokens), self._vec_len):
            raise EmbeddingError(
                "The length of new_vectors must be equal to the number of tokens and the width "
                "of new_vectors must be equal to the dimension of embeddings of the glossary: "
                "expected shape %s, got %s." % ((len(tokens), self._vec_len),
                                                tuple(new_vectors.shape)))
        indices = []
        for token in tokens:
            if token not in self._token_to_idx:
                raise EmbeddingValueError(
                    "Token %s is unknown. To update the embedding vector for an unknown token, "
                    "please specify it explicitly as the `unknown_token` %s in `tokens`. This "
                    "is to avoid unintended updates." % (token, self._idx_to_token[UNKNOWN_IDX]))
            indices.append(self._token_to_idx[token])
        self._idx_to_vec[_to_array(indices, dtype='int64')] = new_vectors


def _describe(value):
    """What an argument was, for an error message."""
    if isinstance(value, nd.NDArray):
        return "a %d-D NDArray" % value.ndim
    return "a %s" % type(value).__name__


_DEFAULT_ROOT = os.path.join(data_dir(), 'embeddings')

# MXNet 1.9.1's pretrained files (the unpacked names: GloVe's .txt, fastText's .vec)
_GLOVE_FILES = """
    glove.42B.300d.txt glove.6B.50d.txt glove.6B.100d.txt glove.6B.200d.txt glove.6B.300d.txt
    glove.840B.300d.txt glove.twitter.27B.25d.txt glove.twitter.27B.50d.txt
    glove.twitter.27B.100d.txt glove.twitter.27B.200d.txt
""".split()
_FASTTEXT_FILES = """
    crawl-300d-2M.vec wiki.aa.vec wiki.ab.vec wiki.ace.vec wiki.ady.vec wiki.af.vec
    wiki.ak.vec wiki.als.vec wiki.am.vec wiki.ang.vec wiki.an.vec wiki.arc.vec wiki.ar.vec
    wiki.arz.vec wiki.ast.vec wiki.as.vec wiki.av.vec wiki.ay.vec wiki.azb.vec wiki.az.vec
    wiki.bar.vec wiki.bat_smg.vec wiki.ba.vec wiki.bcl.vec wiki.be.vec wiki.bg.vec wiki.bh.vec
    wiki.bi.vec wiki.bjn.vec wiki.bm.vec wiki.bn.vec wiki.bo.vec wiki.bpy.vec wiki.br.vec
    wiki.bs.vec wiki.bug.vec wiki.bxr.vec wiki.ca.vec wiki.cbk_zam.vec wiki.cdo.vec
    wiki.ceb.vec wiki.ce.vec wiki.cho.vec wiki.chr.vec wiki.ch.vec wiki.chy.vec wiki.ckb.vec
    wiki.co.vec wiki.crh.vec wiki.cr.vec wiki.csb.vec wiki.cs.vec wiki.cu.vec wiki.cv.vec
    wiki.cy.vec wiki.da.vec wiki.de.vec wiki.diq.vec wiki.dsb.vec wiki.dv.vec wiki.dz.vec
    wiki.ee.vec wiki.el.vec wiki.eml.vec wiki.en.vec wiki.eo.vec wiki.es.vec wiki.et.vec
    wiki.eu.vec wiki.ext.vec wiki.fa.vec wiki.ff.vec wiki.fiu_vro.vec wiki.fi.vec wiki.fj.vec
    wiki.fo.vec wiki.frp.vec wiki.frr.vec wiki.fr.vec wiki.fur.vec wiki.fy.vec wiki.gag.vec
    wiki.gan.vec wiki.ga.vec wiki.gd.vec wiki.glk.vec wiki.gl.vec wiki.gn.vec wiki.gom.vec
    wiki.got.vec wiki.gu.vec wiki.gv.vec wiki.hak.vec wiki.ha.vec wiki.haw.vec wiki.he.vec
    wiki.hif.vec wiki.hi.vec wiki.ho.vec wiki.hr.vec wiki.hsb.vec wiki.ht.vec wiki.hu.vec
    wiki.hy.vec wiki.hz.vec wiki.ia.vec wiki.id.vec wiki.ie.vec wiki.ig.vec wiki.ii.vec
    wiki.ik.vec wiki.ilo.vec wiki.io.vec wiki.is.vec wiki.it.vec wiki.iu.vec wiki.jam.vec
    wiki.ja.vec wiki.jbo.vec wiki.jv.vec wiki.kaa.vec wiki.kab.vec wiki.ka.vec wiki.kbd.vec
    wiki.kg.vec wiki.ki.vec wiki.kj.vec wiki.kk.vec wiki.kl.vec wiki.km.vec wiki.kn.vec
    wiki.koi.vec wiki.ko.vec wiki.krc.vec wiki.kr.vec wiki.ksh.vec wiki.ks.vec wiki.ku.vec
    wiki.kv.vec wiki.kw.vec wiki.ky.vec wiki.lad.vec wiki.la.vec wiki.lbe.vec wiki.lb.vec
    wiki.lez.vec wiki.lg.vec wiki.lij.vec wiki.li.vec wiki.lmo.vec wiki.ln.vec wiki.lo.vec
    wiki.lrc.vec wiki.ltg.vec wiki.lt.vec wiki.lv.vec wiki.mai.vec wiki.map_bms.vec
    wiki.mdf.vec wiki.mg.vec wiki.mhr.vec wiki.mh.vec wiki.min.vec wiki.mi.vec wiki.mk.vec
    wiki.ml.vec wiki.mn.vec wiki.mo.vec wiki.mrj.vec wiki.mr.vec wiki.ms.vec wiki.mt.vec
    wiki.multi.ar.vec wiki.multi.bg.vec wiki.multi.ca.vec wiki.multi.cs.vec wiki.multi.da.vec
    wiki.multi.de.vec wiki.multi.el.vec wiki.multi.en.vec wiki.multi.es.vec wiki.multi.et.vec
    wiki.multi.fi.vec wiki.multi.fr.vec wiki.multi.he.vec wiki.multi.hr.vec wiki.multi.hu.vec
    wiki.multi.id.vec wiki.multi.it.vec wiki.multi.mk.vec wiki.multi.nl.vec wiki.multi.no.vec
    wiki.multi.pl.vec wiki.multi.pt.vec wiki.multi.ro.vec wiki.multi.ru.vec wiki.multi.sk.vec
    wiki.multi.sl.vec wiki.multi.sv.vec wiki.multi.tr.vec wiki.multi.uk.vec wiki.multi.vi.vec
    wiki.mus.vec wiki.mwl.vec wiki.my.vec wiki.myv.vec wiki.mzn.vec wiki.nah.vec wiki.nap.vec
    wiki.na.vec wiki.nds_nl.vec wiki.nds.vec wiki.ne.vec wiki-news-300d-1M-subword.vec
    wiki-news-300d-1M.vec wiki.new.vec wiki.ng.vec wiki.nl.vec wiki.nn.vec wiki.no.vec wiki.nov.vec
    wiki.nrm.vec wiki.nso.vec wiki.nv.vec wiki.ny.vec wiki.oc.vec wiki.olo.vec wiki.om.vec
    wiki.or.vec wiki.os.vec wiki.pag.vec wiki.pam.vec wiki.pap.vec wiki.pa.vec wiki.pcd.vec
    wiki.pdc.vec wiki.pfl.vec wiki.pih.vec wiki.pi.vec wiki.pl.vec wiki.pms.vec wiki.pnb.vec
    wiki.pnt.vec wiki.ps.vec wiki.pt.vec wiki.qu.vec wiki.rm.vec wiki.rmy.vec wiki.rn.vec
    wiki.roa_rup.vec wiki.roa_tara.vec wiki.ro.vec wiki.rue.vec wiki.ru.vec wiki.rw.vec
    wiki.sah.vec wiki.sa.vec wiki.scn.vec wiki.sco.vec wiki.sc.vec wiki.sd.vec wiki.se.vec
    wiki.sg.vec wiki.sh.vec wiki.simple.vec wiki.si.vec wiki.sk.vec wiki.sl.vec wiki.sm.vec
    wiki.sn.vec wiki.so.vec wiki.sq.vec wiki.srn.vec wiki.sr.vec wiki.ss.vec wiki.stq.vec
    wiki.st.vec wiki.su.vec wiki.sv.vec wiki.sw.vec wiki.szl.vec wiki.ta.vec wiki.tcy.vec
    wiki.tet.vec wiki.te.vec wiki.tg.vec wiki.th.vec wiki.ti.vec wiki.tk.vec wiki.tl.vec
    wiki.tn.vec wiki.to.vec wiki.tpi.vec wiki.tr.vec wiki.ts.vec wiki.tt.vec wiki.tum.vec
    wiki.tw.vec wiki.ty.vec wiki.tyv.vec wiki.udm.vec wiki.ug.vec wiki.uk.vec wiki.ur.vec
    wiki.uz.vec wiki.vec.vec wiki.vep.vec wiki.ve.vec wiki.vi.vec wiki.vls.vec wiki.vo.vec
    wiki.war.vec wiki.wa.vec wiki.wo.vec wiki.wuu.vec wiki.xal.vec wiki.xh.vec wiki.xmf.vec
    wiki.yi.vec wiki.yo.vec wiki.za.vec wiki.zea.vec wiki.zh_classical.vec wiki.zh_min_nan.vec
    wiki.zh.vec wiki.zh_yue.vec wiki.zu.vec
""".split()


@register
class GloVe(_TokenEmbedding):
    """GloVe vectors (https://nlp.stanford.edu/projects/glove/), read from
    `<embedding_root>/glove/<pretrained_file_name>` (never downloaded). Also takes
    `unknown_token` and `vocabulary` as every embedding here."""

    pretrained_file_name_sha1 = dict.fromkeys(_GLOVE_FILES)

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        # MXNet's archives: one per corpus for 6B and twitter, one per file for 42B / 840B
        corpus = pretrained_file_name.split('.')[1]
        if corpus in ('6B', 'twitter'):
            return 'glove.%s.zip' % ('6B' if corpus == '6B' else 'twitter.27B')
        return pretrained_file_name[:-len('.txt')] + '.zip'

    def __init__(self, pretrained_file_name='glove.840B.300d.txt', embedding_root=_DEFAULT_ROOT,
                 init_unknown_vec=nd.zeros, vocabulary=None, **kwargs):
        GloVe._check_pretrained_file_names(pretrained_file_name)
        super(GloVe, self).__init__(**kwargs)
        path = GloVe._get_pretrained_file(embedding_root, pretrained_file_name)
        self._load_embedding(path, ' ', init_unknown_vec)
        self._build_embedding_for_vocabulary(vocabulary)


@register
class FastText(_TokenEmbedding):
    """fastText vectors (https://fasttext.cc/), read from the unpacked .vec file at
    `<embedding_root>/fasttext/<pretrained_file_name>` (never downloaded; its `count dim`
    header line is skipped)."""

    pretrained_file_name_sha1 = dict.fromkeys(_FASTTEXT_FILES)

    @classmethod
    def _get_download_file_name(cls, pretrained_file_name):
        return os.path.splitext(pretrained_file_name)[0] + '.zip'

    def __init__(self, pretrained_file_name='wiki.simple.vec', embedding_root=_DEFAULT_ROOT,
                 init_unknown_vec=nd.zeros, vocabulary=None, **kwargs):
        FastText._check_pretrained_file_names(pretrained_file_name)
        super(FastText, self).__init__(**kwargs)
        path = FastText._get_pretrained_file(embedding_root, pretrained_file_name)
        self._load_embedding(path, ' ', init_unknown_vec)
        self._build_embedding_for_vocabulary(vocabulary)


class CustomEmbedding(_TokenEmbedding):
    """Vectors from your own text file: one `token<elem_delim>v1<elem_delim>v2...` per line
    (not registered, as in MXNet: construct it directly)."""

    def __init__(self, pretrained_file_path, elem_delim=' ', encoding='utf8',
                 init_unknown_vec=nd.zeros, vocabulary=None, **kwargs):
        super(CustomEmbedding, self).__init__(**kwargs)
        self._load_embedding(pretrained_file_path, elem_delim, init_unknown_vec, encoding)
        self._build_embedding_for_vocabulary(vocabulary)


class CompositeEmbedding(_TokenEmbedding):
    """The tokens of `vocabulary`, each with the vectors of every embedding in
    `token_embeddings` (one or a list) concatenated in order."""

    def __init__(self, vocabulary, token_embeddings):
        if not isinstance(vocabulary, vocab.Vocabulary):
            raise EmbeddingError("The argument `vocabulary` must be an instance of "
                                 "mxnet.contrib.text.vocab.Vocabulary, got %s."
                                 % type(vocabulary).__name__)
        if not isinstance(token_embeddings, list):
            token_embeddings = [token_embeddings]
        for embed in token_embeddings:
            if not isinstance(embed, _TokenEmbedding):
                raise EmbeddingError(
                    "The argument `token_embeddings` must be an instance or a list of instances "
                    "of mxnet.contrib.text.embedding._TokenEmbedding, got %s."
                    % type(embed).__name__)
        self._index_tokens_from_vocabulary(vocabulary)
        self._set_idx_to_vec_by_embeddings(token_embeddings, len(self), self.idx_to_token)
