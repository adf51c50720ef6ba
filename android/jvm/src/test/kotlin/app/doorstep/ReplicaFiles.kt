package app.doorstep

import java.nio.file.Files
import java.nio.file.Path
import java.util.zip.DataFormatException
import java.util.zip.Inflater

/**
 * What a replica's files give away to someone who copies them off the phone: the raw bytes of
 * the SQLite file and its `-wal` and `-shm`, searched for texts as they are and inside a raw
 * DEFLATE stream starting at any offset (Automerge compresses columns of more than 256 bytes).
 * The Kotlin twin of `replica/tests/support/leaks.rs`.
 */
object ReplicaFiles {
    /** The database file and its `-wal` and `-shm`, whichever exist, one after another. */
    fun bytes(db: Path): ByteArray {
        val parts = listOf("", "-wal", "-shm").map { Path.of("$db$it") }.filter { Files.exists(it) }
        check(parts.isNotEmpty()) { "no replica file at $db" }
        return parts.fold(ByteArray(0)) { all, part -> all + Files.readAllBytes(part) }
    }

    /** Which of [texts] (as UTF-8) are in [db]'s files, plain or compressed. */
    fun textsIn(db: Path, texts: List<String>): Set<String> {
        val bytes = bytes(db)
        val needles = texts.associateWith { it.toByteArray(Charsets.UTF_8) }
        val found = sortedSetOf<String>()
        fun search(haystack: ByteArray, length: Int) {
            for ((text, needle) in needles) if (indexOf(haystack, length, needle) >= 0) found += text
        }
        search(bytes, bytes.size)
        val out = ByteArray(1 shl 20)
        val inflater = Inflater(true)
        try {
            for (start in bytes.indices) {
                inflater.reset()
                inflater.setInput(bytes, start, bytes.size - start)
                var length = 0
                try {
                    // Most offsets are not a stream at all and fail within a few bytes.
                    while (length < out.size) {
                        val n = inflater.inflate(out, length, out.size - length)
                        if (n == 0) break
                        length += n
                    }
                } catch (broken: DataFormatException) {
                    // What inflated before the stream broke is still searched.
                }
                if (length >= 16) search(out, length)
            }
        } finally {
            inflater.end()
        }
        return found
    }

    private fun indexOf(haystack: ByteArray, length: Int, needle: ByteArray): Int {
        outer@ for (i in 0..length - needle.size) {
            for (j in needle.indices) if (haystack[i + j] != needle[j]) continue@outer
            return i
        }
        return -1
    }
}
